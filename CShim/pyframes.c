/* pyframes.c: the Python frames of a CPython 3.11+ process, merged into every captured stack.
 *
 * After the native capture, current_stack (hooks.c) hands the frames here. Each native frame
 * inside _PyEval_EvalFrameDefault is replaced by the Python frames that evaluation-loop call runs:
 * since 3.11 one C call runs several Python frames, and the boundaries in the thread's frame chain
 * are the frames marked `is_entry` (3.11) or the shim frames owned by the C stack (3.12+,
 * FRAME_OWNED_BY_CSTACK). A Python frame becomes one 64-bit value in the same frames array, so
 * stacks.c interns merged stacks unchanged (docs/FORMAT.md, "Python frames").
 *
 * Nothing here calls into the interpreter: it reads memory the current thread owns (its thread
 * state, found through the GIL-state TLS key in _PyRuntime, and its frames and code objects), with
 * the type of every code object checked before it is read. A thread with no Python state, a runtime
 * not yet initialised or finalising (another thread's), or an unreadable chain yields native frames
 * only.
 *
 * Layouts: 3.13 publishes its offsets in _PyRuntime.debug_offsets, read at start. 3.11 and 3.12
 * have a table each (generated from their internal headers by tools/pyframes-offsets.c), checked
 * against the running interpreter: type sizes at start, then once the main thread state exists,
 * that the thread state found through the key is the calling thread's and in its interpreter's list.
 * Any mismatch turns Python frames off with one stderr line and a PYTHON record saying why.
 *
 * Hot path cost: per Python frame a few loads and a multiply. Code objects get their small dump
 * ids only when a stack is new: until then a frame carries a hash of its code object's identity.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HEAPWISE_BUILDING
#define HEAPWISE_BUILDING 1
#endif
#include "heapwise_scope.h"
#include "hw_format.h"
#include "encoder.h"
#include "hw_internal.h"
#include "stack_hint.h"

/* ---- layouts ---- */

typedef struct layout_s {
  unsigned minor;
  size_t rt_tss, rt_finalizing, rt_interp_head, rt_size;
  size_t interp_threads_head;
  size_t ts_next, ts_interp, ts_thread_id;
  size_t ts_cframe;     /* 3.11, 3.12: tstate->cframe->current_frame */
  size_t cframe_current;
  size_t ts_current_frame; /* 3.13: tstate->current_frame */
  bool has_cframe;
  size_t fr_code, fr_previous, fr_instr, fr_owner;
  size_t fr_is_entry; /* 3.11 only */
  size_t code_size, co_filename, co_qualname, co_linetable, co_firstlineno, co_argcount, co_adaptive;
  size_t uni_size, uni_state, uni_length, uni_ascii_size, uni_compact_size;
  size_t bytes_ob_size, bytes_sval;
} layout_t;

/* From tools/pyframes-offsets.c against the 3.11.7 and 3.12.1 headers (x86-64 and aarch64 Linux
 * agree: every field is a pointer, an int or a byte). */
static const layout_t layout_311 = {
    .minor = 11, .rt_tss = 592, .rt_finalizing = 24, .rt_interp_head = 40, .rt_size = 166688,
    .interp_threads_head = 16, .ts_next = 8, .ts_interp = 16, .ts_thread_id = 152,
    .ts_cframe = 56, .cframe_current = 8, .has_cframe = true,
    .fr_code = 32, .fr_previous = 48, .fr_instr = 56, .fr_owner = 69, .fr_is_entry = 68,
    .code_size = 192, .co_filename = 112, .co_qualname = 128, .co_linetable = 136, .co_firstlineno = 72,
    .co_argcount = 56, .co_adaptive = 184,
    .uni_size = 80, .uni_state = 32, .uni_length = 16, .uni_ascii_size = 48, .uni_compact_size = 72,
    .bytes_ob_size = 16, .bytes_sval = 32,
};
static const layout_t layout_312 = {
    .minor = 12, .rt_tss = 1544, .rt_finalizing = 24, .rt_interp_head = 40, .rt_size = 459944,
    .interp_threads_head = 72, .ts_next = 8, .ts_interp = 16, .ts_thread_id = 136,
    .ts_cframe = 56, .cframe_current = 0, .has_cframe = true,
    .fr_code = 0, .fr_previous = 8, .fr_instr = 56, .fr_owner = 70,
    .code_size = 200, .co_filename = 112, .co_qualname = 128, .co_linetable = 136, .co_firstlineno = 68,
    .co_argcount = 52, .co_adaptive = 192,
    .uni_size = 64, .uni_state = 32, .uni_length = 16, .uni_ascii_size = 40, .uni_compact_size = 56,
    .bytes_ob_size = 16, .bytes_sval = 32,
};
/* Where 3.13 keeps the GIL-state key (not among its debug offsets); checked, else searched for. */
#define TSS_OFFSET_313 2160

/* The 3.13 layout of _PyRuntime.debug_offsets itself (Include/internal/pycore_runtime.h). 3.14
 * grew this structure, so a newer interpreter needs its description here, not a table of its
 * internals. */
typedef struct debug_offsets_313_s {
  char cookie[8];
  uint64_t version, free_threaded;
  struct { uint64_t size, finalizing, interpreters_head; } runtime_state;
  struct {
    uint64_t size, id, next, threads_head, gc, imports_modules, sysdict, builtins, ceval_gil, gil_runtime_state,
        gil_runtime_state_enabled, gil_runtime_state_locked, gil_runtime_state_holder;
  } interpreter_state;
  struct { uint64_t size, prev, next, interp, current_frame, thread_id, native_thread_id, datastack_chunk, status; } thread_state;
  struct { uint64_t size, previous, executable, instr_ptr, localsplus, owner; } interpreter_frame;
  struct {
    uint64_t size, filename, name, qualname, linetable, firstlineno, argcount, localsplusnames, localspluskinds,
        co_code_adaptive;
  } code_object;
  struct { uint64_t size, ob_type; } pyobject;
  struct { uint64_t size, tp_name, tp_repr, tp_flags; } type_object;
  struct { uint64_t size, ob_item, ob_size; } tuple_object;
  struct { uint64_t size, ob_item, ob_size; } list_object;
  struct { uint64_t size, ma_keys, ma_values; } dict_object;
  struct { uint64_t size, ob_fval; } float_object;
  struct { uint64_t size, lv_tag, ob_digit; } long_object;
  struct { uint64_t size, ob_size, ob_sval; } bytes_object;
  struct { uint64_t size, state, length, asciiobject_size; } unicode_object;
} debug_offsets_313_t;

#define FRAME_OWNED_BY_CSTACK 3
#define OB_TYPE 8            /* PyObject: ob_refcnt, ob_type */
#define TP_BASICSIZE 32      /* PyTypeObject: PyVarObject head, tp_name, tp_basicsize, tp_itemsize */
#define TP_ITEMSIZE 40
#define WALK_LIMIT 1024      /* frames looked at per capture, whatever the chain holds */

/* ---- state ---- */

enum { PY_OFF = 0, PY_PENDING = 1, PY_VERIFYING = 2, PY_ON = 3 };
enum { STATUS_ON = 0, STATUS_SWITCHED_OFF = 1, STATUS_UNSUPPORTED = 2 };

_Atomic int hw_pyframes_active; /* nonzero while the hooks must call hw_pyframes_merge */
static void set_active(int on) {
  atomic_store(&hw_pyframes_active, on);
  hw_modes_follow(&hw_pyframes_active, HW_MODE_PYFRAMES); /* the hooks' full-tracking test */
}
static _Atomic int mode;
static _Atomic int info_pending;
static int status = STATUS_ON;
static char reason[160];
static layout_t L;
static const uint8_t *runtime;
static const void *code_type, *unicode_type, *bytes_type;
static uintptr_t eval_lo, eval_len;
static uintptr_t cold_lo, cold_len; /* _PyEval_EvalFrameDefault.cold, when the symbol table has it */
static uintptr_t cover_lo, cover_len; /* the smallest range holding both (GCC puts .cold just before) */
static uint64_t version_hex;
static char interpreter_path[1024];
static char object_allocator[32];
static const int *tss; /* Py_tss_t: int _is_initialized; pthread_key_t _key */
static pthread_key_t tss_key;
static _Atomic int tss_attempts;

/* The code object behind each Python frame of the last merge (NULL at native positions), for
 * hw_pyframes_describe; tls_merged is how many positions that merge filled (0: none). */
static __thread const uint8_t *tls_codes[HW_STACK_MAX] __attribute__((tls_model("initial-exec")));
static __thread int tls_merged __attribute__((tls_model("initial-exec")));
/* How far that merge's walk went: frames of the chain looked at (-1: no walk), and whether the chain
 * ended there (else the native stack's evaluation-loop frames ran out first). */
static __thread int tls_looked __attribute__((tls_model("initial-exec")));
static __thread bool tls_end_null __attribute__((tls_model("initial-exec")));

static inline const uint8_t *rd_ptr(const uint8_t *p) { const uint8_t *v; memcpy(&v, p, sizeof v); return v; }
static inline int32_t rd_i32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }
static inline uint32_t rd_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline int64_t rd_i64(const uint8_t *p) { int64_t v; memcpy(&v, p, 8); return v; }

static bool is_code(const uint8_t *o) { return o && rd_ptr(o + OB_TYPE) == code_type; }

static void turn_off(int why, const char *text) {
  status = why;
  strncpy(reason, text, sizeof reason - 1);
  atomic_store(&mode, PY_OFF);
  atomic_store(&info_pending, 1);
  set_active(1); /* once more, to write the PYTHON record */
  if (why == STATUS_UNSUPPORTED) hw_log("Python frames off: %s", text);
}

/* ---- start ---- */

static bool layout_from_debug_offsets(void) {
  const debug_offsets_313_t *d = (const debug_offsets_313_t *)runtime;
  if (memcmp(d->cookie, "xdebugpy", 8) != 0) return false;
  if ((d->version >> 16) != (version_hex >> 16) || d->free_threaded) return false;
  L = (layout_t){
      .minor = 13, .rt_tss = TSS_OFFSET_313, .rt_finalizing = d->runtime_state.finalizing,
      .rt_interp_head = d->runtime_state.interpreters_head, .rt_size = d->runtime_state.size,
      .interp_threads_head = d->interpreter_state.threads_head, .ts_next = d->thread_state.next,
      .ts_interp = d->thread_state.interp, .ts_thread_id = d->thread_state.thread_id,
      .ts_current_frame = d->thread_state.current_frame, .has_cframe = false,
      .fr_code = d->interpreter_frame.executable, .fr_previous = d->interpreter_frame.previous,
      .fr_instr = d->interpreter_frame.instr_ptr, .fr_owner = d->interpreter_frame.owner,
      .code_size = d->code_object.size, .co_filename = d->code_object.filename, .co_qualname = d->code_object.qualname,
      .co_linetable = d->code_object.linetable, .co_firstlineno = d->code_object.firstlineno,
      .co_argcount = d->code_object.argcount, .co_adaptive = d->code_object.co_code_adaptive,
      .uni_size = 0, .uni_state = d->unicode_object.state, .uni_length = d->unicode_object.length,
      .uni_ascii_size = d->unicode_object.asciiobject_size,
      /* PyCompactUnicodeObject: the ASCII header, then utf8_length and utf8 */
      .uni_compact_size = d->unicode_object.asciiobject_size + 16,
      .bytes_ob_size = d->bytes_object.ob_size, .bytes_sval = d->bytes_object.ob_sval,
  };
  return true;
}

static uint64_t type_field(const void *type, size_t off) { return (uint64_t)rd_i64((const uint8_t *)type + off); }

/* ---- finding the interpreter ---- */

/* The interpreter's symbols the recorder needs, with their values: run-time addresses once
 * found. The last is GCC's `_PyEval_EvalFrameDefault.cold`: the evaluation loop's unlikely paths,
 * moved out of the function under a local name that only .symtab has (stripped builds have none).
 * A call made from there is the evaluation loop's as much as one from the function itself. */
enum { S_RUNTIME, S_VERSION, S_CODE, S_UNICODE, S_BYTES, S_EVAL, S_COLD, S_COUNT };
static const char *const symbol_names[S_COUNT] = {
    "_PyRuntime", "Py_Version", "PyCode_Type", "PyUnicode_Type", "PyBytes_Type", "_PyEval_EvalFrameDefault",
    "_PyEval_EvalFrameDefault.cold"};
typedef struct { uintptr_t value, size; } symbol_t;

/* Fills syms[first..last] with st_value/st_size from the ELF file's table of `type` (SHT_DYNSYM
 * or SHT_SYMTAB); entries not found stay 0. Only reads the file: no call into the loader. */
static void read_symbols(const char *path, unsigned type, symbol_t *syms, int first, int last) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  const uint8_t *file = fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(ElfW(Ehdr))
                            ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  close(fd);
  if (file == MAP_FAILED) return;
  size_t size = (size_t)st.st_size;
  const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)file;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
      eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff > size || eh->e_shnum > (size - eh->e_shoff) / sizeof(ElfW(Shdr)))
    goto out;
  const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(file + eh->e_shoff);
  for (unsigned i = 0; i < eh->e_shnum; i++) {
    if (sh[i].sh_type != type || sh[i].sh_link >= eh->e_shnum || sh[i].sh_entsize != sizeof(ElfW(Sym))) continue;
    const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
    if (sh[i].sh_offset > size || sh[i].sh_size > size - sh[i].sh_offset || strs->sh_offset > size ||
        strs->sh_size > size - strs->sh_offset)
      break;
    const ElfW(Sym) *table = (const ElfW(Sym) *)(file + sh[i].sh_offset);
    const char *names = (const char *)(file + strs->sh_offset);
    /* A libpython's .symtab has tens of thousands of entries, read at every start: the lengths
     * once, and every name wanted is a function or an object, so the other entries' names (files,
     * sections) are not even touched. */
    size_t lens[S_COUNT];
    for (int w = first; w <= last; w++) lens[w] = strlen(symbol_names[w]) + 1;
    for (size_t k = 0; k < sh[i].sh_size / sizeof(ElfW(Sym)); k++) {
      unsigned kind = ELF64_ST_TYPE(table[k].st_info);
      if ((kind != STT_FUNC && kind != STT_OBJECT) || !table[k].st_value || table[k].st_shndx == SHN_UNDEF ||
          table[k].st_name >= strs->sh_size)
        continue;
      const char *name = names + table[k].st_name;
      size_t room = strs->sh_size - table[k].st_name;
      for (int w = first; w <= last; w++)
        if (name[0] == symbol_names[w][0] && room >= lens[w] && memcmp(name, symbol_names[w], lens[w]) == 0)
          syms[w] = (symbol_t){table[k].st_value, table[k].st_size};
    }
    break;
  }
out:
  munmap((void *)file, size);
}

/* The loaded module named libpython3.*: its path and load bias. */
typedef struct { char path[sizeof interpreter_path]; uintptr_t bias; } libpython_t;
static int find_libpython(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  const char *name = info->dlpi_name, *base = name ? strrchr(name, '/') : NULL;
  base = base ? base + 1 : name;
  if (!base || strncmp(base, "libpython3.", 11) != 0) return 0;
  libpython_t *found = arg;
  strncpy(found->path, name, sizeof found->path - 1);
  found->bias = info->dlpi_addr;
  return 1;
}

static void init_found(const symbol_t *syms);
static void choose_hot(void);
static _Atomic int runtime_found;
static atomic_flag finding = ATOMIC_FLAG_INIT;

/* At the recorder's start and at every scope with sites (pytest --heapwise, not recorded):
 * the interpreter among the program's global symbols. */
void hw_pyframes_init(void) {
  if (atomic_load_explicit(&runtime_found, memory_order_acquire) || atomic_flag_test_and_set(&finding)) return;
  void *rt = atomic_load(&runtime_found) ? NULL : dlsym(RTLD_DEFAULT, "_PyRuntime");
  if (rt) {
    symbol_t syms[S_COUNT] = {{0, 0}};
    for (int w = S_RUNTIME; w <= S_EVAL; w++) syms[w].value = (uintptr_t)dlsym(RTLD_DEFAULT, symbol_names[w]);
    Dl_info info;
    const ElfW(Sym) *eval = NULL;
    if (syms[S_EVAL].value && dladdr1((void *)syms[S_EVAL].value, &info, (void **)&eval, RTLD_DL_SYMENT) && eval)
      syms[S_EVAL].size = eval->st_size;
    if (dladdr(rt, &info) && info.dli_fname) strncpy(interpreter_path, info.dli_fname, sizeof interpreter_path - 1);
    if (!strchr(interpreter_path, '/')) { /* the executable itself, named as it was invoked */
      ssize_t len = readlink("/proc/self/exe", interpreter_path, sizeof interpreter_path - 1);
      interpreter_path[len > 0 ? len : 0] = 0;
    }
    atomic_store(&runtime_found, 1);
    init_found(syms);
  }
  atomic_flag_clear(&finding);
}

/* Modules were loaded (modules.c, from a hook: perhaps inside the loader itself, so no dlsym or
 * dlopen here): a libpython that the program dlopened, even with RTLD_LOCAL, is found by name and
 * its symbols read from its file. Its memory is mapped by the time the module list shows it. */
void hw_pyframes_modules_changed(void) {
  if (atomic_load_explicit(&runtime_found, memory_order_acquire) || atomic_flag_test_and_set(&finding)) return;
  libpython_t lib = {{0}, 0};
  if (!atomic_load(&runtime_found) && dl_iterate_phdr(find_libpython, &lib)) {
    symbol_t syms[S_COUNT] = {{0, 0}};
    read_symbols(lib.path, SHT_DYNSYM, syms, S_RUNTIME, S_EVAL);
    if (syms[S_RUNTIME].value) {
      for (int w = S_RUNTIME; w <= S_EVAL; w++)
        if (syms[w].value) syms[w].value += lib.bias;
      memcpy(interpreter_path, lib.path, sizeof interpreter_path);
      atomic_store(&runtime_found, 1);
      init_found(syms);
    }
  }
  atomic_flag_clear(&finding);
}

static void init_found(const symbol_t *syms) {
  runtime = (const uint8_t *)syms[S_RUNTIME].value;
  const char *pm = getenv("PYTHONMALLOC");
  if (pm) strncpy(object_allocator, pm, sizeof object_allocator - 1);
  const unsigned long *pv = (const unsigned long *)syms[S_VERSION].value;
  version_hex = pv ? *pv : 0;
  const char *sw = getenv("HEAPWISE_PYTHON_FRAMES");
  if (sw && strcmp(sw, "0") == 0) return turn_off(STATUS_SWITCHED_OFF, "HEAPWISE_PYTHON_FRAMES=0");
  if (!pv) return turn_off(STATUS_UNSUPPORTED, "CPython before 3.11 is not supported");
  unsigned major = (unsigned)(version_hex >> 24), minor = (unsigned)(version_hex >> 16) & 0xff;
  char text[sizeof reason];
  if (major == 3 && minor == 11) L = layout_311;
  else if (major == 3 && minor == 12) L = layout_312;
  else if (major == 3 && minor == 13) {
    if (!layout_from_debug_offsets())
      return turn_off(STATUS_UNSUPPORTED, "_PyRuntime.debug_offsets is not the 3.13 layout (free-threaded build?)");
  } else {
    snprintf(text, sizeof text, "CPython %u.%u has no known layout (3.11, 3.12, 3.13)", major, minor);
    return turn_off(STATUS_UNSUPPORTED, text);
  }
  code_type = (const void *)syms[S_CODE].value;
  unicode_type = (const void *)syms[S_UNICODE].value;
  bytes_type = (const void *)syms[S_BYTES].value;
  if (!code_type || !unicode_type || !bytes_type || !syms[S_EVAL].value || !syms[S_EVAL].size)
    return turn_off(STATUS_UNSUPPORTED, "the interpreter does not export PyCode_Type, PyUnicode_Type, PyBytes_Type or "
                                        "_PyEval_EvalFrameDefault with its size");
  eval_lo = syms[S_EVAL].value;
  eval_len = syms[S_EVAL].size;
  symbol_t local[S_COUNT] = {{0, 0}};
  read_symbols(interpreter_path, SHT_SYMTAB, local, S_EVAL, S_COLD);
  if (local[S_EVAL].value && local[S_COLD].value && local[S_COLD].size) { /* the bias from the known function */
    cold_lo = eval_lo - local[S_EVAL].value + local[S_COLD].value;
    cold_len = local[S_COLD].size;
  }
  uintptr_t hi = eval_lo + eval_len;
  cover_lo = eval_lo;
  if (cold_len && cold_lo < cover_lo) cover_lo = cold_lo;
  if (cold_len && cold_lo + cold_len > hi) hi = cold_lo + cold_len;
  cover_len = hi - cover_lo;
  /* The sizes the layout implies must be the running interpreter's. */
  if (type_field(code_type, TP_BASICSIZE) != L.co_adaptive || type_field(code_type, TP_ITEMSIZE) != 2 ||
      type_field(bytes_type, TP_BASICSIZE) != L.bytes_sval + 1 ||
      (L.uni_size && type_field(unicode_type, TP_BASICSIZE) != L.uni_size)) {
    snprintf(text, sizeof text, "CPython %u.%u.%u's object sizes differ from the known 3.%u layout", major, minor,
             (unsigned)(version_hex >> 8) & 0xff, minor);
    return turn_off(STATUS_UNSUPPORTED, text);
  }
  choose_hot();
  tss = (const int *)(runtime + L.rt_tss);
  atomic_store(&mode, PY_PENDING);
  atomic_store(&info_pending, 1);
  set_active(1);
}

/* ---- verification, once the main thread state exists ---- */

/* The calling thread's state in its interpreters' lists (by pthread id), or NULL. */
static const uint8_t *find_in_lists(void) {
  const uint8_t *interp = rd_ptr(runtime + L.rt_interp_head);
  uintptr_t self = (uintptr_t)pthread_self();
  for (int i = 0; interp && i < 64; i++) {
    const uint8_t *ts = rd_ptr(interp + L.interp_threads_head);
    for (int j = 0; ts && j < 4096; j++, ts = rd_ptr(ts + L.ts_next))
      if ((uintptr_t)rd_ptr(ts + L.ts_thread_id) == self) return rd_ptr(ts + L.ts_interp) == interp ? ts : NULL;
    interp = NULL; /* the main interpreter is the one whose threads we follow */
  }
  return NULL;
}

static bool tss_matches(const int *candidate, const uint8_t *ts) {
  int init;
  unsigned key;
  memcpy(&init, candidate, 4);
  memcpy(&key, candidate + 1, 4);
  return init == 1 && key < 1024 && pthread_getspecific((pthread_key_t)key) == ts;
}

/* PY_ON, PY_OFF, or PY_PENDING when the runtime is not far enough yet. */
static int verify(void) {
  const uint8_t *ts = find_in_lists();
  if (!ts) return PY_PENDING;
  if (L.minor == 13 && !tss_matches(tss, ts)) {
    /* Not at the 3.13.0 offset: search _PyRuntime for the key that maps to this thread's state. */
    const int *found = NULL;
    for (size_t off = 0; off + 8 <= L.rt_size && !found; off += 4)
      if (tss_matches((const int *)(runtime + off), ts)) found = (const int *)(runtime + off);
    if (found) tss = found;
  }
  if (!tss_matches(tss, ts)) {
    if (atomic_fetch_add(&tss_attempts, 1) < 1000) return PY_PENDING; /* the key may be bound a moment later */
    turn_off(STATUS_UNSUPPORTED, "no GIL-state key in _PyRuntime leads to this thread's state");
    return PY_OFF;
  }
  memcpy(&tss_key, tss + 1, sizeof(unsigned));
  return PY_ON;
}

/* ---- the hot path ---- */

/* The calling thread's state, or NULL (no Python state; finalising from another thread). */
static inline const uint8_t *current_tstate(void) {
  /* The key as verified: a runtime finalised and initialised again (embedding) makes a new one,
   * and the old number may then belong to another library. */
  if (hw_unlikely(__atomic_load_n(tss, __ATOMIC_RELAXED) != 1 || (pthread_key_t)(unsigned)tss[1] != tss_key)) return NULL;
  const uint8_t *ts = pthread_getspecific(tss_key);
  if (!ts) return NULL;
  const uint8_t *fin = rd_ptr(runtime + L.rt_finalizing);
  return (fin && fin != ts) ? NULL : ts;
}

static inline uint64_t mix(uint64_t h) {
  h ^= h >> 32;
  h *= 0x9FB21C651E98DF25ull;
  h ^= h >> 29;
  return h;
}

/* What the hot path reads of the layout. Each known layout gets its own copy of the merge with
 * these offsets as constants (merge_311, _312, _313): with a dozen offsets read from memory the
 * walk spilled them and reloaded them per frame. A 3.13 whose debug offsets differ from the
 * table runs the same code reading `hot`. */
typedef struct hot_s {
  size_t minor; /* a size_t like the rest: no padding, so tables compare with memcmp */
  size_t fr_code, fr_previous, fr_instr, fr_owner, fr_is_entry;
  size_t co_filename, co_qualname, co_linetable, co_firstlineno, co_argcount, co_adaptive;
} hot_t;
#define HOT_OF(l) {(l).minor, (l).fr_code, (l).fr_previous, (l).fr_instr, (l).fr_owner, (l).fr_is_entry, \
                   (l).co_filename, (l).co_qualname, (l).co_linetable, (l).co_firstlineno, (l).co_argcount, (l).co_adaptive}
/* layout_311's and layout_312's fields, and 3.13.0's debug offsets (all compared with the layout
 * in use at start: hot_known) */
static const hot_t hot_311 = {.minor = 11, .fr_code = 32, .fr_previous = 48, .fr_instr = 56, .fr_owner = 69,
                              .fr_is_entry = 68, .co_filename = 112, .co_qualname = 128, .co_linetable = 136,
                              .co_firstlineno = 72, .co_argcount = 56, .co_adaptive = 184};
static const hot_t hot_312 = {.minor = 12, .fr_code = 0, .fr_previous = 8, .fr_instr = 56, .fr_owner = 70,
                              .co_filename = 112, .co_qualname = 128, .co_linetable = 136, .co_firstlineno = 68,
                              .co_argcount = 52, .co_adaptive = 192};
static const hot_t hot_313 = {.minor = 13, .fr_code = 0, .fr_previous = 8, .fr_instr = 56, .fr_owner = 70,
                              .co_filename = 112, .co_qualname = 128, .co_linetable = 136, .co_firstlineno = 68,
                              .co_argcount = 52, .co_adaptive = 200};
static hot_t hot;         /* from L, once it is known */
static unsigned hot_known; /* 11, 12 or 13 when hot equals that table; 0: merge_any */

static void choose_hot(void) {
  hot = (hot_t)HOT_OF(L);
  const hot_t *known[] = {&hot_311, &hot_312, &hot_313};
  hot_known = 0;
  /* HEAPWISE_PYFRAMES_GENERIC=1: merge_any for every layout, so that its tests reach it. */
  const char *generic = getenv("HEAPWISE_PYFRAMES_GENERIC");
  if (generic && strcmp(generic, "1") == 0) return;
  for (int k = 0; k < 3; k++)
    if (memcmp(&hot, known[k], sizeof hot) == 0) hot_known = (unsigned)known[k]->minor;
}

/* Who a code object is: its address and the objects it points to. A code object freed and another
 * made at its address differ here unless their file, name and line table objects are also the
 * same ones at the same addresses. */
static inline __attribute__((always_inline)) uint64_t code_identity_in(const hot_t *h, const uint8_t *code) {
  uint64_t v = (uint64_t)(uintptr_t)code * 0xff51afd7ed558ccdull;
  v += (uint64_t)(uintptr_t)rd_ptr(code + h->co_filename) * 0xc4ceb9fe1a85ec53ull;
  v += (uint64_t)(uintptr_t)rd_ptr(code + h->co_qualname) * 0x9E3779B97F4A7C15ull;
  v += (uint64_t)(uintptr_t)rd_ptr(code + h->co_linetable) * 0xC2B2AE3D27D4EB4Full;
  v += ((uint64_t)rd_u32(code + h->co_firstlineno) << 32 | rd_u32(code + h->co_argcount)) * 0x165667B19E3779F9ull;
  return mix(v);
}
static inline uint64_t code_identity(const uint8_t *code) { return code_identity_in(&hot, code); }

/* Before interning: tag | 39 bits of identity | 24 bits of instruction index. */
static inline __attribute__((always_inline)) uintptr_t python_frame_value(const hot_t *h, const uint8_t *frame,
                                                                           const uint8_t *code) {
  const uint8_t *instr = rd_ptr(frame + h->fr_instr), *first = code + h->co_adaptive;
  uint64_t index = instr > first ? (uint64_t)(instr - first) / 2 : 0;
  if (index > 0xffffff) index = 0xffffff;
  return HW_PY_FRAME_TAG | (code_identity_in(h, code) >> 25 << 24) | index;
}

/* One merge's walk of the thread's frame chain. */
typedef struct walk_s { const uint8_t *f; int o, py, budget; } walk_t;

/* Appends to out[] the Python frames of one evaluation-loop call, innermost first; leaves w->f at
 * the frame where the next (outer) call's frames begin, or NULL. Inlined into each merge_*: the
 * walk's counters then live in registers. `codes`: tls_codes, its address taken once. */
static inline __attribute__((always_inline)) void take_call(const hot_t *h, walk_t *w, uintptr_t *out,
                                                             const uint8_t **codes, int cap) {
  const uint8_t *f = w->f;
  int o = w->o, py = w->py, budget = w->budget;
  /* While the walk's limit, the room and the Python frames' cap are all further than `fast` frames
   * away, none of the three can stop it: one count for them (the loop below checks each). */
  int fast = budget < cap - o ? budget : cap - o;
  if (HW_PY_MAX_FRAMES - py < fast) fast = HW_PY_MAX_FRAMES - py;
  if (fast > 0) {
    uintptr_t *op = out + o;
    const uint8_t **cp = codes + o, **const first = cp, **const end = cp + fast;
    bool ended = true;
    int extra = 0; /* a frame looked at and not taken (the call's end): one of the budget too */
    for (;;) {
      if (!f) break;
      if (cp == end) { ended = false; break; } /* a limit is near: the loop below */
      const uint8_t *prev = rd_ptr(f + h->fr_previous);
      if (h->minor >= 12 && (uint8_t)f[h->fr_owner] == FRAME_OWNED_BY_CSTACK) { f = prev; extra = 1; break; }
      const uint8_t *code = rd_ptr(f + h->fr_code);
      if (!is_code(code)) { f = NULL; extra = 1; break; } /* not a chain we can read: stop */
      *cp++ = code;
      *op++ = python_frame_value(h, f, code);
      bool entry = h->minor == 11 && f[h->fr_is_entry];
      f = prev;
      if (entry) break;
    }
    int taken = (int)(cp - first);
    o += taken;
    py += taken;
    budget -= taken + extra;
    if (ended) {
      w->f = f;
      w->o = o;
      w->py = py;
      w->budget = budget;
      return;
    }
  }
  while (f) {
    if (budget-- <= 0 || o >= cap) { f = NULL; break; } /* the walk's limit, or no room for more: it ends here */
    const uint8_t *prev = rd_ptr(f + h->fr_previous);
    if (h->minor >= 12 && (uint8_t)f[h->fr_owner] == FRAME_OWNED_BY_CSTACK) { f = prev; break; }
    const uint8_t *code = rd_ptr(f + h->fr_code);
    if (!is_code(code)) { f = NULL; break; } /* not a chain we can read: stop */
    if (py < HW_PY_MAX_FRAMES) {
      codes[o] = code;
      out[o++] = python_frame_value(h, f, code);
      py++;
    }
    if (h->minor == 11 && f[h->fr_is_entry]) { f = prev; break; }
    f = prev;
  }
  w->f = f;
  w->o = o;
  w->py = py;
  w->budget = budget;
}

/* Whether a native frame is the evaluation loop: its function, or the part GCC moved out of it
 * (`_PyEval_EvalFrameDefault.cold`, found in the symbol table at start when there is one; when
 * there is none, cold_len is 0 and no frame is below it). Most native frames are outside the one
 * range that covers both: one comparison for them. */
#define IS_EVAL_FRAME(pc) \
  (hw_unlikely((pc) - cover_lo_ < cover_len_) && ((pc) - lo < len || (pc) - cold_lo_ < cold_len_))

/* Replaces, in place, each evaluation-loop frame of frames[0..n) by the Python frames it runs,
 * starting the chain at `f`; returns the new count (at most cap). Native frames before the first
 * evaluation-loop frame are not moved; the rest are read from a copy, the runs between two
 * evaluation-loop frames copied as they are compared, and those past the end of the Python chain
 * moved in one memcpy. Native positions leave tls_codes as it was: hw_pyframes_describe looks only
 * at values with HW_PY_FRAME_TAG, which no native address has (docs/FORMAT.md). */
static inline __attribute__((always_inline)) int merge_in(const hot_t *h, const uint8_t *f, uintptr_t *frames, int n,
                                                          bool cut, int cap) {
  const uintptr_t lo = eval_lo, len = eval_len, cold_lo_ = cold_lo, cold_len_ = cold_len, cover_lo_ = cover_lo,
                  cover_len_ = cover_len;
  const uint8_t **codes = tls_codes;
  int i = 0;
  while (i < n && !IS_EVAL_FRAME(frames[i])) i++;
  if (i >= cap) return cap;
  walk_t w = {f, i, 0, WALK_LIMIT};
  if (i < n) {
    uintptr_t tail[HW_STACK_MAX];
    int tn = n - i, j = 0;
    memcpy(tail, frames + i, (size_t)tn * sizeof *tail);
    for (;;) { /* tail[j] is an evaluation-loop frame, w.f is not NULL, w.o < cap */
      int before = w.o;
      take_call(h, &w, frames, codes, cap);
      if (w.o == before) frames[w.o++] = tail[j]; /* no Python frames for it: the native frame stays */
      j++;
      if (!w.f) break;
      /* the native frames up to the next evaluation-loop frame, as long as there is room */
      int stop = tn - j < cap - w.o ? tn : j + cap - w.o;
      uintptr_t *dst = frames + w.o - j;
      while (j < stop && !IS_EVAL_FRAME(tail[j])) {
        dst[j] = tail[j];
        j++;
      }
      w.o = (int)(dst + j - frames);
      if (j == stop) break;
    }
    if (!w.f) { /* no Python frames left: the rest as they are */
      int k = tn - j < cap - w.o ? tn - j : cap - w.o;
      memcpy(frames + w.o, tail + j, (size_t)k * sizeof *tail);
      w.o += k;
    }
  }
  /* A native stack cut at the depth limit: the outer Python frames still say where the program was. */
  while (w.f && cut && w.py < HW_PY_MAX_FRAMES) take_call(h, &w, frames, codes, cap);
  tls_looked = WALK_LIMIT - w.budget; /* for the memo (hw_pyframes_remember) */
  tls_end_null = !w.f;
  return w.o;
}
#undef IS_EVAL_FRAME

static hw_noinline int merge_311(const uint8_t *f, uintptr_t *frames, int n, bool cut, int cap) {
  return merge_in(&hot_311, f, frames, n, cut, cap);
}
static hw_noinline int merge_312(const uint8_t *f, uintptr_t *frames, int n, bool cut, int cap) {
  return merge_in(&hot_312, f, frames, n, cut, cap);
}
static hw_noinline int merge_313(const uint8_t *f, uintptr_t *frames, int n, bool cut, int cap) {
  return merge_in(&hot_313, f, frames, n, cut, cap);
}
static hw_noinline int merge_any(const uint8_t *f, uintptr_t *frames, int n, bool cut, int cap) {
  return merge_in(&hot, f, frames, n, cut, cap);
}

static void emit_info(hw_thread_t *t, uint64_t ts);

static hw_cold int pending(hw_thread_t *t, uint64_t ts) {
  int m = atomic_load(&mode);
  /* 3.11 and 3.12 wait for the key they know; 3.13 finds the key itself. */
  if (m == PY_PENDING && (L.minor >= 13 || __atomic_load_n(tss, __ATOMIC_RELAXED) == 1) &&
      atomic_compare_exchange_strong(&mode, &m, PY_VERIFYING)) {
    m = verify();
    if (m != PY_OFF) atomic_store(&mode, m);
  }
  /* The PYTHON record goes into a stream; a process that is not recorded (scopes only) has none. */
  bool recorded = atomic_load_explicit(&hw_recording, memory_order_relaxed) > 0;
  if (atomic_load(&mode) != PY_PENDING && (t || !recorded) && atomic_exchange(&info_pending, 0) && t) emit_info(t, ts);
  m = atomic_load(&mode);
  if (m == PY_OFF) set_active(0);
  return m;
}

/* The thread's innermost interpreter frame (3.11's through its cframe), or NULL. */
static inline __attribute__((always_inline)) const uint8_t *innermost_frame(void) {
  const uint8_t *tstate = current_tstate();
  if (!tstate) return NULL;
  if (L.has_cframe) {
    const uint8_t *cframe = rd_ptr(tstate + L.ts_cframe);
    return cframe ? rd_ptr(cframe + L.cframe_current) : NULL;
  }
  return rd_ptr(tstate + L.ts_current_frame);
}

/* The merge itself; `cut`: the native capture stopped at its depth limit; at most `cap` values
 * come out (a scope's site keeps 16: walking a pytest run's 50 outer Python frames on every
 * allocation only to drop them was 5% of a measured suite's time). */
static int merge(hw_thread_t *t, uint64_t ts, uintptr_t *frames, int n, bool cut, int cap) {
  tls_merged = 0;
  tls_looked = -1;
  int m = atomic_load_explicit(&mode, memory_order_relaxed);
  if (hw_unlikely(m != PY_ON || atomic_load_explicit(&info_pending, memory_order_relaxed))) m = pending(t, ts);
  if (m != PY_ON) return n;
  const uint8_t *f = innermost_frame();
  if (!f) return n;
  int o = hot_known == 11 ? merge_311(f, frames, n, cut, cap)
          : hot_known == 12 ? merge_312(f, frames, n, cut, cap)
          : hot_known == 13 ? merge_313(f, frames, n, cut, cap)
                            : merge_any(f, frames, n, cut, cap);
  tls_merged = o;
  return o;
}

int hw_pyframes_merge(hw_thread_t *t, uint64_t ts, uintptr_t *frames, int n) {
  return merge(t, ts, frames, n, n >= hw_config.max_frames, HW_STACK_MAX);
}

/* ---- the memo: merged stacks seen before on this thread ---- */

/* A Python process's captures repeat: the same native stack under the same Python frames. Merging
 * one again, summing the merged frames and interning them cost ~950 instructions a capture on
 * overhead.py's JSON script (3.11: merge ~600, hw_stack_sum ~230, the table ~50, the copies ~60),
 * where the native capture itself had ~400. The memo keeps, per thread, what a merge read and the
 * stack id it came to: the native stack (its sum and count, which the stack table takes as its
 * identity too) and every frame of the Python chain the walk looked at, with everything the merge
 * read of it: the code object, the instruction pointer, the code object's fields that make its
 * identity (code_identity), and what ended each evaluation-loop call (3.11's is_entry, 3.12+'s
 * shim frames of the C stack; the chain's end). A capture whose native stack is a kept one's and
 * whose chain holds the same values, read the merge's way (each code object's type checked before
 * its fields are read), would merge to the same frames: its id is the kept one's, with no merge,
 * sum or table probe (~25 instructions a Python frame). Nothing is guessed: any value that differs
 * is a miss, and the capture is merged as before, which then replaces the entry.
 *
 * Only merges whose walk no limit cut are kept (a native stack under HEAPWISE_MAX_FRAMES, at most
 * MEMO_PY frames looked at: far from the walk's, the room's and the Python frames' limits), and
 * only in the capture path (current_stack), not for scope sites. HEAPWISE_UNWIND_CHECK=1 merges
 * every capture anyway and compares the memo's answer with the id that came out. Memory: the table
 * comes with the thread's recording state (thread.c recycles states, so it follows the threads alive
 * at once), made after the state's MEMO_AFTER-th merge: MEMO_SLOTS entries of ~1.6 KiB, 200 KiB of
 * address space touched as used. */
#define MEMO_SLOTS 128
#define MEMO_PY 32
#define MEMO_AFTER 256

typedef struct {
  const uint8_t *code; /* NULL: a shim frame of the C stack (3.12+), whose code is not read */
  const uint8_t *instr;
  const uint8_t *filename, *qualname, *linetable;
  uint64_t lines; /* co_firstlineno << 32 | co_argcount, as code_identity reads them */
} memo_frame_t;

typedef struct {
  uint64_t sum;       /* the native stack's hw_stack_sum */
  int32_t n;          /* its count; 0: the entry is empty */
  uint32_t id;        /* the merged stack's id */
  uint32_t epoch;     /* hw_stacks_epoch of the id */
  uint32_t entry;     /* 3.11: bit k, frame k had is_entry */
  uint16_t looked;    /* frames of the chain the merge looked at */
  uint8_t end_null;   /* the chain ended after them */
  memo_frame_t f[MEMO_PY];
} memo_entry_t;

typedef struct hw_pymemo_s {
  memo_entry_t e[MEMO_SLOTS];
} memo_t;

/* Between hw_pyframes_known's miss and hw_pyframes_remember: where the merge's result goes. */
static __thread struct {
  memo_entry_t *e;
  const uint8_t *f;
  uint64_t sum;
  int n;
  uint32_t hit; /* check mode: the memo's answer */
} tls_pending __attribute__((tls_model("initial-exec")));
static __thread uint32_t tls_memo_merges __attribute__((tls_model("initial-exec")));
static int memo_check = -1; /* HEAPWISE_UNWIND_CHECK, read at first use */
static _Atomic uint64_t memo_compared, memo_differ;

static inline uint64_t lines_of(const hot_t *h, const uint8_t *code) {
  return (uint64_t)rd_u32(code + h->co_firstlineno) << 32 | rd_u32(code + h->co_argcount);
}

/* Whether the chain from f holds, frame by frame, what the entry's merge read. */
static inline __attribute__((always_inline)) bool memo_holds(const hot_t *h, const memo_entry_t *e, const uint8_t *f) {
  const memo_frame_t *m = e->f, *const end = m + e->looked;
  uint32_t entry = e->entry;
  for (; m != end; m++, entry >>= 1) {
    if (!f) return false;
    const uint8_t *prev = rd_ptr(f + h->fr_previous);
    if (h->minor >= 12 && (uint8_t)f[h->fr_owner] == FRAME_OWNED_BY_CSTACK) {
      if (m->code) return false;
      f = prev;
      continue;
    }
    const uint8_t *code = rd_ptr(f + h->fr_code);
    if (code != m->code || !is_code(code) || rd_ptr(f + h->fr_instr) != m->instr ||
        rd_ptr(code + h->co_filename) != m->filename || rd_ptr(code + h->co_qualname) != m->qualname ||
        rd_ptr(code + h->co_linetable) != m->linetable || lines_of(h, code) != m->lines)
      return false;
    if (h->minor == 11 && (f[h->fr_is_entry] != 0) != (entry & 1)) return false;
    f = prev;
  }
  return (f == NULL) == e->end_null;
}

static hw_cold void memo_start(hw_thread_t *t) {
  if (memo_check < 0) memo_check = hw_check_mode_asked();
  /* Once per thread: a failed mapping is not asked for again on every capture. */
  if (tls_memo_merges < MEMO_AFTER && ++tls_memo_merges == MEMO_AFTER) t->py_memo = hw_pages_alloc(sizeof(memo_t));
}

uint32_t hw_pyframes_known(hw_thread_t *t, int n, uint64_t sum) {
  tls_pending.e = NULL;
  memo_t *M = t->py_memo;
  if (hw_unlikely(!M)) {
    memo_start(t);
    return 0;
  }
  /* Not yet on, or a PYTHON record to write: merge() sees to it. A cut native stack: not kept. */
  if (hw_unlikely(atomic_load_explicit(&mode, memory_order_relaxed) != PY_ON ||
                  atomic_load_explicit(&info_pending, memory_order_relaxed)) ||
      n >= hw_config.max_frames)
    return 0;
  const uint8_t *f = innermost_frame();
  if (!f) return 0;
  /* The slot: the native stack and the innermost frame's code and instruction, read as words
   * (compared, not followed, until memo_holds has checked the frame's owner and code). */
  uint64_t k = sum ^ ((uint64_t)(uintptr_t)rd_ptr(f + hot.fr_code) * 0x9E3779B97F4A7C15ull) ^
               (uint64_t)(uintptr_t)rd_ptr(f + hot.fr_instr);
  memo_entry_t *e = &M->e[mix(k) & (MEMO_SLOTS - 1)];
  uint32_t hit = 0;
  if (e->sum == sum && e->n == n && e->epoch == atomic_load_explicit(&hw_stacks_epoch, memory_order_relaxed)) {
    bool holds = hot_known == 11 ? memo_holds(&hot_311, e, f)
                 : hot_known == 12 ? memo_holds(&hot_312, e, f)
                 : hot_known == 13 ? memo_holds(&hot_313, e, f)
                                   : memo_holds(&hot, e, f);
    if (holds) hit = e->id;
  }
  if (hit && !memo_check) return hit;
  tls_pending.e = e, tls_pending.f = f, tls_pending.sum = sum, tls_pending.n = n, tls_pending.hit = hit;
  return 0;
}

void hw_pyframes_remember(uint32_t id) {
  memo_entry_t *e = tls_pending.e;
  if (!e) return;
  tls_pending.e = NULL;
  if (hw_unlikely(memo_check) && tls_pending.hit) {
    atomic_fetch_add_explicit(&memo_compared, 1, memory_order_relaxed);
    if (tls_pending.hit != id && atomic_fetch_add(&memo_differ, 1) < 5)
      hw_log("python stack memo check: the memo gave stack %u, the merge %u", tls_pending.hit, id);
  }
  int looked = tls_looked;
  /* The merge that just ran must be the one the lookup prepared for: merge() found the same chain
   * (the same checks, nothing between them) unless it was not on; it says how far it went. */
  if (!id || looked < 0 || looked > MEMO_PY) return;
  e->n = 0;
  const uint8_t *f = tls_pending.f;
  uint32_t entry = 0;
  for (int k = 0; k < looked; k++) {
    memo_frame_t *m = &e->f[k];
    if (!f) return;
    const uint8_t *prev = rd_ptr(f + hot.fr_previous);
    if (hot.minor >= 12 && (uint8_t)f[hot.fr_owner] == FRAME_OWNED_BY_CSTACK) {
      m->code = NULL;
      f = prev;
      continue;
    }
    const uint8_t *code = rd_ptr(f + hot.fr_code);
    if (!is_code(code)) return; /* the walk stopped at something else: not kept */
    *m = (memo_frame_t){code, rd_ptr(f + hot.fr_instr), rd_ptr(code + hot.co_filename), rd_ptr(code + hot.co_qualname),
                        rd_ptr(code + hot.co_linetable), lines_of(&hot, code)};
    if (hot.minor == 11 && f[hot.fr_is_entry]) entry |= 1u << k;
    f = prev;
  }
  if ((f == NULL) != tls_end_null) return;
  e->sum = tls_pending.sum, e->id = id, e->entry = entry, e->looked = (uint16_t)looked, e->end_null = tls_end_null;
  e->epoch = atomic_load_explicit(&hw_stacks_epoch, memory_order_relaxed);
  e->n = tls_pending.n;
}

/* After the recorder's own destructor, as the unwind check's report (unwind.c). */
__attribute__((destructor(101))) static void memo_report(void) {
  if (memo_check > 0)
    hw_log("python stack memo check: %llu stacks compared, %llu differ", (unsigned long long)memo_compared,
           (unsigned long long)memo_differ);
}

/* ---- code objects: ids and PYCODE records ---- */

typedef struct code_slot_s {
  _Atomic uint64_t identity;
  _Atomic uint32_t id;
  uint32_t pad;
} code_slot_t;

#define CODE_BITS 18 /* 256 Ki slots, 4 MiB of address space touched as used; 3/4 may fill */
static _Atomic(code_slot_t *) codes;
static _Atomic uint32_t next_code_id = 1;
static _Atomic int codes_full_reported;
static atomic_flag record_lock = ATOMIC_FLAG_INIT;
static uint8_t record_body[48 * 1024];

/* A str as its kind (1, 2 or 4 bytes a character; 0 when unreadable) and its raw characters. */
static uint8_t *put_str(uint8_t *p, const uint8_t *s, size_t cap) {
  if (s && rd_ptr(s + OB_TYPE) == unicode_type) {
    uint32_t state = rd_u32(s + L.uni_state);
    int64_t length = rd_i64(s + L.uni_length);
    unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
    if (compact && length >= 0 && (kind == 1 || kind == 2 || kind == 4)) {
      size_t bytes = (size_t)length * kind;
      if (bytes > cap) bytes = cap / kind * kind;
      p = hw_put_uvarint(p, kind);
      return hw_put_bytes(p, s + (ascii ? L.uni_ascii_size : L.uni_compact_size), bytes);
    }
  }
  p = hw_put_uvarint(p, 0);
  return hw_put_uvarint(p, 0);
}

/* Every PYCODE body, by id, for readers in this process (scope sites: heapwise_python_code):
 * each a 4-byte length and the body, in 1 MiB chunks of pages that are never given back (a
 * scope's sites may be read long after the code object is gone). Under record_lock. */
#define BODY_CHUNK (1u << 20)
static _Atomic(const uint8_t *) *bodies; /* (CODE_BITS slots)/4*3 + 1 entries */
static uint8_t *chunk;
static size_t chunk_left;

static void keep_body(uint32_t id, const uint8_t *body, size_t len) {
  size_t slots = ((size_t)1 << CODE_BITS) / 4 * 3 + 1;
  if (!bodies) {
    void *fresh = hw_pages_alloc(slots * sizeof *bodies);
    if (!fresh) return;
    __atomic_store_n(&bodies, fresh, __ATOMIC_RELEASE);
  }
  if (id >= slots) return;
  if (chunk_left < len + 4) {
    chunk = hw_pages_alloc(BODY_CHUNK); /* len is at most sizeof record_body, well below */
    chunk_left = chunk ? BODY_CHUNK : 0;
    if (!chunk) return;
  }
  uint32_t n = (uint32_t)len;
  memcpy(chunk, &n, 4);
  memcpy(chunk + 4, body, len);
  atomic_store_explicit(&bodies[id], chunk, memory_order_release);
  chunk += 4 + len;
  chunk_left -= 4 + len;
}

HEAPWISE_API int heapwise_python_code(uint32_t id, const void **body, size_t *length) {
  size_t slots = ((size_t)1 << CODE_BITS) / 4 * 3 + 1;
  _Atomic(const uint8_t *) *b = __atomic_load_n(&bodies, __ATOMIC_ACQUIRE);
  const uint8_t *kept = b && id > 0 && id < slots ? atomic_load_explicit(&b[id], memory_order_acquire) : NULL;
  if (!kept || !body || !length) return -1;
  uint32_t n;
  memcpy(&n, kept, 4);
  *body = kept + 4;
  *length = n;
  return 0;
}

static void emit_code(hw_thread_t *t, uint64_t ts, uint32_t id, const uint8_t *code) {
  while (atomic_flag_test_and_set_explicit(&record_lock, memory_order_acquire)) {
  }
  uint8_t *p = hw_put_uvarint(record_body, id);
  int32_t first = rd_i32(code + L.co_firstlineno);
  p = hw_put_uvarint(p, first > 0 ? (uint64_t)first : 0);
  p = put_str(p, rd_ptr(code + L.co_filename), 4096);
  p = put_str(p, rd_ptr(code + L.co_qualname), 1024);
  const uint8_t *lt = rd_ptr(code + L.co_linetable);
  size_t room = sizeof record_body - (size_t)(p - record_body) - 2 * HW_VARINT_MAX, len = 0;
  if (lt && rd_ptr(lt + OB_TYPE) == bytes_type) {
    int64_t size = rd_i64(lt + L.bytes_ob_size);
    len = size > 0 ? (size_t)size : 0;
    if (len > room) len = room; /* the analyzer reads no line past a cut table */
  }
  p = hw_put_bytes(p, len ? lt + L.bytes_sval : (const uint8_t *)"", len);
  if (t) hw_emit_raw(t, ts, HW_TAG_PYCODE, record_body, (size_t)(p - record_body));
  keep_body(id, record_body, (size_t)(p - record_body));
  atomic_flag_clear_explicit(&record_lock, memory_order_release);
}

static hw_cold code_slot_t *code_table(void) {
  code_slot_t *c = atomic_load(&codes);
  if (c) return c;
  code_slot_t *fresh = hw_pages_alloc(sizeof(code_slot_t) << CODE_BITS);
  if (!fresh) return NULL;
  if (atomic_compare_exchange_strong(&codes, &c, fresh)) return fresh;
  hw_pages_free(fresh, sizeof(code_slot_t) << CODE_BITS);
  return c;
}

/* The dump id of a code object (0: table full), writing its PYCODE record the first time. */
static uint32_t code_id(hw_thread_t *t, uint64_t ts, const uint8_t *code) {
  code_slot_t *table = code_table();
  if (!table) return 0;
  uint64_t h = code_identity(code);
  if (!h) h = 1;
  uint32_t mask = (1u << CODE_BITS) - 1;
  for (uint32_t i = (uint32_t)h & mask, probes = 0; probes <= mask; i = (i + 1) & mask, probes++) {
    code_slot_t *s = &table[i];
    uint64_t cur = atomic_load_explicit(&s->identity, memory_order_acquire);
    if (cur == 0) {
      if (atomic_load(&next_code_id) > (mask + 1) / 4 * 3) {
        if (!atomic_exchange(&codes_full_reported, 1)) hw_log("Python code table full; new code objects are unnamed");
        return 0;
      }
      if (!atomic_compare_exchange_strong(&s->identity, &cur, h)) {
        if (cur != h) continue;
      } else {
        uint32_t id = atomic_fetch_add(&next_code_id, 1);
        emit_code(t, ts, id, code);
        atomic_store_explicit(&s->id, id, memory_order_release);
        return id;
      }
    }
    if (cur == h) {
      uint32_t id;
      while ((id = atomic_load_explicit(&s->id, memory_order_acquire)) == 0) {
      }
      return id;
    }
  }
  return 0;
}

void hw_pyframes_describe(hw_thread_t *t, uint64_t ts, uintptr_t *frames, int n) {
  int merged = tls_merged;
  tls_merged = 0;
  for (int i = 0; i < n && i < merged; i++) {
    if (!(frames[i] & HW_PY_FRAME_TAG) || !tls_codes[i]) continue;
    uint32_t id = code_id(t, ts, tls_codes[i]);
    frames[i] = HW_PY_FRAME_TAG | (uintptr_t)id << 32 | (frames[i] & 0xffffff);
  }
}

/* For a scope's site (scope.c): the same merge, in the dump's form at once (code ids, with their
 * PYCODE records when the process is recorded), at most `cap` values kept. */
int hw_pyframes_merge_site(uintptr_t *frames, int n, bool cut, int cap) {
  hw_thread_t *t = atomic_load_explicit(&hw_recording, memory_order_relaxed) > 0 ? hw_thread_current() : NULL;
  /* Stamp 0: the records take the stream's last time, never one before an event already in it. */
  n = merge(t, 0, frames, n, cut, cap);
  if (n > cap) n = cap;
  if (tls_merged) hw_pyframes_describe(t, 0, frames, n);
  return n;
}

/* ---- the PYTHON record ---- */

static void emit_info(hw_thread_t *t, uint64_t ts) {
  uint8_t body[sizeof interpreter_path + sizeof reason + sizeof object_allocator + 64];
  uint8_t *p = hw_put_uvarint(body, version_hex);
  p = hw_put_uvarint(p, (uint64_t)status);
  p = hw_put_bytes(p, object_allocator, strlen(object_allocator));
  p = hw_put_bytes(p, interpreter_path, strlen(interpreter_path));
  p = hw_put_bytes(p, reason, strlen(reason));
  hw_emit_raw(t, ts, HW_TAG_PYTHON, body, (size_t)(p - body));
}

/* A forked child with its own dump: every code object must be described again. */
void hw_pyframes_reset(void) {
  tls_memo_merges = 0; /* the child's thread gets a new state, and a memo with it */
  if (!runtime) return;
  code_slot_t *c = atomic_exchange(&codes, NULL);
  if (c) hw_pages_free(c, sizeof(code_slot_t) << CODE_BITS);
  atomic_store(&next_code_id, 1);
  atomic_store(&codes_full_reported, 0);
  atomic_flag_clear(&record_lock);
  atomic_store(&info_pending, 1);
  set_active(1);
}
