/* modules.c: the module map (every ELF object mapped into the process, with its build id), kept
 * current without hooking dlopen (see hw_internal.h for why).
 *
 * dl_iterate_phdr reports dlpi_adds/dlpi_subs, counters of every load and unload so far; while
 * they are unchanged the map is too, so a sync that finds them equal costs one callback. Build ids
 * come from the PT_NOTE segments already in memory: no file is opened.
 */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "hw_format.h"
#include "hw_internal.h"

typedef struct known_s {
  uintptr_t base;
  uint64_t name_hash;
  uint32_t id;
  bool present, unloaded;
} known_t;

#define KNOWN_MAX 8192
static known_t *known;
static size_t known_count;
static uint32_t next_id = 1;
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;
static unsigned long long changed_at = ~0ull; /* seen_adds when the last eager window opened */
static atomic_flag busy = ATOMIC_FLAG_INIT;
static char exe_path[4096];

typedef struct sync_s {
  hw_thread_t *thread;
  unsigned long long adds, subs;
} sync_t;

static void emit(hw_thread_t *t, uint8_t tag, const uint8_t *body, size_t len) {
  if (t) hw_emit_raw(t, hw_now(), tag, body, len);
  else hw_process_append(tag, hw_now(), body, len);
}

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) h = (h ^ (uint8_t)*s++) * 1099511628211ull;
  return h;
}

static size_t build_id(const struct dl_phdr_info *info, const uint8_t **out) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
      const uint8_t *name = p + sizeof *nh, *desc = name + ((nh->n_namesz + 3) & ~3u);
      if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
          desc + nh->n_descsz <= end) {
        *out = desc;
        return nh->n_descsz;
      }
      p = desc + ((nh->n_descsz + 3) & ~3u);
    }
  }
  return 0;
}

static void emit_module(hw_thread_t *t, const struct dl_phdr_info *info, const char *path, uint32_t id) {
  uint8_t body[4096 + 512];
  size_t path_len = strnlen(path, 4096);
  const uint8_t *bid = NULL;
  size_t bid_len = build_id(info, &bid);
  uint8_t *p = hw_put_uvarint(body, id);
  p = hw_put_uvarint(p, (uint64_t)info->dlpi_addr);
  p = hw_put_bytes(p, path, path_len);
  p = hw_put_bytes(p, bid, bid_len > 64 ? 64 : bid_len);
  uint8_t *count_at = p;
  int loads = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) loads += info->dlpi_phdr[i].p_type == PT_LOAD;
  if (loads > 16) loads = 16;
  p = hw_put_uvarint(count_at, (uint64_t)loads);
  for (int i = 0, written = 0; i < info->dlpi_phnum && written < loads; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    p = hw_put_uvarint(p, ph->p_vaddr);
    p = hw_put_uvarint(p, ph->p_memsz);
    p = hw_put_uvarint(p, ph->p_flags & 7);
    written++;
  }
  emit(t, HW_TAG_MODULE, body, (size_t)(p - body));
}

/* dlopen("./libx.so") leaves that relative name in the link map, which names nothing once the
 * working directory (or the reader's) differs. The kernel's map names the file absolutely: the
 * line of /proc/self/maps whose range holds `addr` gives it. Read in pieces: maps can be large. */
typedef struct {
  uintptr_t addr;
  char *out;
  size_t cap;
  bool found;
} path_search_t;

static bool path_line(char *line, void *arg) {
  path_search_t *s = arg;
  char *end;
  uintptr_t lo = strtoull(line, &end, 16), hi = *end == '-' ? strtoull(end + 1, &end, 16) : 0;
  char *path = strchr(line, '/');
  if (s->addr >= lo && s->addr < hi && path && strlen(path) < s->cap) {
    strcpy(s->out, path);
    s->found = true;
    return false;
  }
  return true;
}

static bool absolute_path(uintptr_t addr, char *out, size_t cap) {
  char buf[8192];
  path_search_t s = {addr, out, cap, false};
  hw_maps_lines(buf, sizeof buf, path_line, &s);
  return s.found;
}

static uintptr_t first_load(const struct dl_phdr_info *info) {
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_LOAD) return info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
  return info->dlpi_addr;
}

static int read_counters(struct dl_phdr_info *info, size_t size, void *arg) {
  sync_t *s = arg;
  if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) return 1;
  s->adds = info->dlpi_adds;
  s->subs = info->dlpi_subs;
  return 1; /* the counters are the same in every entry: one is enough */
}

uintptr_t hw_loader_text_start, hw_loader_text_size;
static uintptr_t loader_base; /* AT_BASE: where the kernel mapped the program's interpreter (0
                                  when ld.so was run as the program: then it goes by its name) */

/* The interpreter's executable segment, from its own program headers. */
static void note_loader(const struct dl_phdr_info *info) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    hw_loader_text_start = info->dlpi_addr + ph->p_vaddr;
    hw_loader_text_size = ph->p_memsz;
    return;
  }
}

static int visit(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  sync_t *s = arg;
  /* The main program has an empty name; its path comes from /proc/self/exe. */
  const char *path = (info->dlpi_name && info->dlpi_name[0]) ? info->dlpi_name : exe_path;
  uint64_t h = hash_name(path);
  for (size_t i = 0; i < known_count; i++)
    if (!known[i].unloaded && known[i].base == info->dlpi_addr && known[i].name_hash == h) {
      known[i].present = true;
      return 0;
    }
  if (known_count == KNOWN_MAX) return 0;
  known_t *k = &known[known_count++];
  *k = (known_t){info->dlpi_addr, h, next_id++, true, false};
  static char resolved[4096]; /* under `busy` */
  if (path[0] != '/' && strchr(path, '/') && absolute_path(first_load(info), resolved, sizeof resolved)) path = resolved;
  emit_module(s->thread, info, path, k->id);
  if (loader_base ? info->dlpi_addr == loader_base : strstr(path, "/ld-linux") != NULL) note_loader(info);
  hw_deepbind_watch(info, k->id, h);
  return 0;
}

void hw_modules_sync(hw_thread_t *t) {
  if (atomic_flag_test_and_set(&busy)) return; /* another thread is syncing: it will see the same */
  sync_t s = {t, 0, 0};
  dl_iterate_phdr(read_counters, &s);
  if (s.adds != seen_adds || s.subs != seen_subs) {
    if (!known) known = hw_pages_alloc(KNOWN_MAX * sizeof(known_t));
    if (known) {
      if (!loader_base) loader_base = (uintptr_t)getauxval(AT_BASE);
      if (!exe_path[0]) {
        ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
        exe_path[n > 0 ? n : 0] = 0;
      }
      for (size_t i = 0; i < known_count; i++) known[i].present = false;
      hw_deepbind_prepare();
      dl_iterate_phdr(visit, &s);
      for (size_t i = 0; i < known_count; i++)
        if (!known[i].present && !known[i].unloaded) {
          known[i].unloaded = true;
          hw_deepbind_forget(known[i].id);
          uint8_t body[HW_VARINT_MAX];
          emit(t, HW_TAG_UNLOAD, body, (size_t)(hw_put_uvarint(body, known[i].id) - body));
        }
      seen_adds = s.adds;
      seen_subs = s.subs;
    }
    hw_pyframes_modules_changed(); /* an interpreter dlopen'ed since: Python frames from now on */
  }
  /* Slots bound since the last pass (deepbind.c): on every sync for 100 ms after the module map
   * changed (a dlopen's slots are bound as it finishes), then at most every 100 ms, since slots
   * that are never called stay pending and a program can make a new stack per event. */
  static uint64_t eager_until, next_pass;
  uint64_t now = hw_monotonic_ns();
  if (s.adds != 0 && s.adds == seen_adds && changed_at != seen_adds) {
    changed_at = seen_adds;
    eager_until = now + 100000000ull;
  }
  if (now < eager_until || now >= next_pass) {
    hw_deepbind_patch(hash_name);
    next_pass = now + 100000000ull;
  }
  atomic_flag_clear(&busy);
}

/* A forked child with its own dump writes the whole map again. */
void hw_modules_reset(void) {
  known_count = 0;
  next_id = 1;
  seen_adds = seen_subs = ~0ull;
  changed_at = ~0ull;
  atomic_flag_clear(&busy);
}
