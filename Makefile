# heapwise: the native recorder (C compiler), the Swift analyzer (SwiftPM), the demo and the tests.
# `make demo` and `make test` install what is missing first (tools/install-deps.sh).

PREFIX     ?= /usr/local
CC         ?= cc
SWIFT      ?= swift
BUILD      := build
LIB        := $(BUILD)/lib/libheapwise.so
SWIFTFLAGS ?=

# The preload library is built by the C compiler, not SwiftPM: SwiftPM links every dynamic product
# with the Swift runtime, which would then load into (and show up in) every recorded process.
CSRC    := $(filter-out CShim/scope.c,$(wildcard CShim/*.c)) CShim/scope.c
CFLAGS  ?= -O2 -g
HWFLAGS := -std=gnu11 -fPIC -fexceptions -fvisibility=hidden -ftls-model=initial-exec -D_GNU_SOURCE \
           -ICShim/include -Wall -Wextra -Wno-unused-parameter -fno-strict-aliasing
LDLIBS  := -lunwind -lzstd -ldl -pthread

.PHONY: all deps lib swift swift-debug demo test install clean bench examples

all: lib swift

deps:
	@tools/install-deps.sh

lib: $(LIB)

$(LIB): $(CSRC) $(wildcard CShim/*.h CShim/include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(HWFLAGS) -shared -Wl,-z,now -Wl,--no-undefined -o $@ $(CSRC) $(LDLIBS)

swift:
	$(SWIFT) build -c release $(SWIFTFLAGS)

swift-debug:
	$(SWIFT) build $(SWIFTFLAGS)

# Build, record the bundled example, and analyse it. A debug build: it is what `make test` builds
# too (so the two quick-start commands share one build), and fast enough for the demo's dump.
demo: deps lib swift-debug
	@tools/demo.sh

# Record every example again (the pandas ones with the cached venv) and write the summaries to
# examples/output/: those files are only ever made this way.
examples: deps lib swift-debug
	@examples/run.sh

test: deps lib
	$(SWIFT) test $(SWIFTFLAGS)

install: lib swift
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/heapwise
	install -m 755 $$($(SWIFT) build -c release --show-bin-path)/heapwise $(DESTDIR)$(PREFIX)/bin/heapwise
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/heapwise/libheapwise.so

bench: deps lib swift
	@HEAPWISE_BENCH_DEPS=1 tools/install-deps.sh
	@tools/bench/run.sh

clean:
	rm -rf $(BUILD)
