/* unwind_cfi.c: the unwind rule at an address, read from the module's .eh_frame_hdr and .eh_frame.
 *
 * Only what the x86-64 compilers emit for ordinary functions is understood: CFA = rsp or rbp plus a
 * constant, the return address saved at CFA-8, rbp unchanged or saved at a constant offset from the
 * CFA, remember/restore state. Every other form (expressions, a CFA in another register, rules of
 * rsp, signal frames marked 'S', augmentations we cannot skip) is HW_RULE_FALLBACK, and unwind.c
 * hands the whole stack to libunwind: a rule is either exactly what libunwind would compute or not
 * used at all. Runs on a cache miss only (unwind.c keeps decoded rules); no allocation, no locks. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hw_internal.h"
#include "unwind_cfi.h"

#if defined(__x86_64__)

/* glibc 2.35+: the module of an address, lock-free and async-signal-safe. Looked up by name so the
 * library still loads (with libunwind doing everything) on an older glibc. */
struct hw_dlfo {
  unsigned long long flags;
  void *map_start, *map_end;
  void *link_map;
  void *eh_frame; /* the PT_GNU_EH_FRAME segment: .eh_frame_hdr */
  unsigned long long reserved[7];
};
static int (*find_object)(void *, struct hw_dlfo *);
static bool use_table; /* no _dl_find_object, or HEAPWISE_MODULE_TABLE=1: unwind_modules.c */

static void table_after_fork(void) { hw_module_table_after_fork_child(); }

bool hw_cfi_init(void) {
  static bool done;
  if (done) return true;
  done = true;
  *(void **)&find_object = dlsym(RTLD_DEFAULT, "_dl_find_object");
  const char *force = getenv("HEAPWISE_MODULE_TABLE");
  use_table = !find_object || (force && strcmp(force, "1") == 0);
  /* A fork while another thread held the table would leave it taken in the child for good. */
  if (use_table) pthread_atfork(NULL, NULL, table_after_fork);
  return true;
}

bool hw_cfi_uses_module_table(void) { return use_table; }

enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* A byte cursor that cannot run past `end`: a malformed table ends the decoding, never the
 * program. */
typedef struct {
  const uint8_t *p, *end;
  bool bad;
} cursor_t;

static uint8_t u8(cursor_t *c) {
  if (c->p >= c->end) { c->bad = true; return 0; }
  return *c->p++;
}
static uint64_t fixed(cursor_t *c, int size) {
  if (c->end - c->p < size) { c->bad = true; c->p = c->end; return 0; }
  uint64_t v = 0;
  memcpy(&v, c->p, (size_t)size);
  c->p += size;
  return v;
}
static uint64_t uleb(cursor_t *c) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b = u8(c);
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  c->bad = true;
  return v;
}
static int64_t sleb(cursor_t *c) {
  int64_t v = 0;
  int shift = 0;
  uint8_t b;
  do {
    b = u8(c);
    v |= (int64_t)(b & 0x7f) << shift;
    shift += 7;
  } while ((b & 0x80) && shift < 64);
  if (shift < 64 && (b & 0x40)) v |= -((int64_t)1 << shift);
  return v;
}

/* DW_EH_PE_* pointer encodings: the value format in the low nibble, what it is relative to in the
 * high one. Only absolute and pc-relative appear in .eh_frame on Linux; anything else is bad. */
static uintptr_t encoded(cursor_t *c, uint8_t enc) {
  if (enc == 0xff) return 0; /* DW_EH_PE_omit */
  const uint8_t *at = c->p;
  uint64_t v;
  switch (enc & 0x0f) {
  case 0x00: v = fixed(c, 8); break;                          /* absptr */
  case 0x01: v = uleb(c); break;                              /* uleb128 */
  case 0x02: v = fixed(c, 2); break;                          /* udata2 */
  case 0x03: v = fixed(c, 4); break;                          /* udata4 */
  case 0x04: v = fixed(c, 8); break;                          /* udata8 */
  case 0x09: v = (uint64_t)sleb(c); break;                    /* sleb128 */
  case 0x0a: v = (uint64_t)(int64_t)(int16_t)fixed(c, 2); break; /* sdata2 */
  case 0x0b: v = (uint64_t)(int64_t)(int32_t)fixed(c, 4); break; /* sdata4 */
  case 0x0c: v = fixed(c, 8); break;                          /* sdata8 */
  default: c->bad = true; return 0;
  }
  switch (enc & 0x70) {
  case 0x00: break;
  case 0x10: v += (uintptr_t)at; break; /* pcrel */
  default: c->bad = true;
  }
  if (enc & 0x80) c->bad = true; /* indirect: would need a load through the pointer */
  return (uintptr_t)v;
}

/* The rules of the three registers that matter, per row of the CFI table. */
enum { R_SAME, R_OFFSET, R_UNDEFINED, R_OTHER };
typedef struct {
  int cfa_reg;      /* DWARF register number, or -1 for an expression */
  int64_t cfa_off;
  int rbp, ra;      /* R_* */
  int64_t rbp_off, ra_off;
  bool rsp_ruled;   /* any rule for rsp itself: not the ordinary "rsp = CFA" */
} row_t;

#define STATE_DEPTH 8

/* Runs CFA instructions from c until the row that covers pc is complete. Returns false on an
 * instruction it does not know (the rule is then FALLBACK). */
static bool execute(cursor_t *c, row_t *row, const row_t *initial, uintptr_t *loc, uintptr_t pc,
                    uint64_t code_align, int64_t data_align, uint8_t fde_enc) {
  row_t saved[STATE_DEPTH];
  int depth = 0;
  while (c->p < c->end && !c->bad) {
    uint8_t op = u8(c);
    uint64_t reg = 0, delta = 0;
    int64_t off = 0;
    switch (op >> 6) {
    case 1: delta = op & 0x3f; goto advance; /* DW_CFA_advance_loc */
    case 2: reg = op & 0x3f; off = (int64_t)uleb(c) * data_align; goto offset; /* DW_CFA_offset */
    case 3: reg = op & 0x3f; goto restore; /* DW_CFA_restore */
    }
    switch (op) {
    case 0x00: continue; /* nop */
    case 0x01: { /* set_loc */
      uintptr_t to = encoded(c, fde_enc);
      if (to > pc) return true;
      *loc = to;
      continue;
    }
    case 0x02: delta = u8(c); goto advance;
    case 0x03: delta = fixed(c, 2); goto advance;
    case 0x04: delta = fixed(c, 4); goto advance;
    case 0x05: reg = uleb(c); off = (int64_t)uleb(c) * data_align; goto offset; /* offset_extended */
    case 0x11: reg = uleb(c); off = sleb(c) * data_align; goto offset;          /* offset_extended_sf */
    case 0x2f: reg = uleb(c); off = -(int64_t)uleb(c) * data_align; goto offset; /* GNU_negative_offset_extended */
    case 0x06: reg = uleb(c); goto restore; /* restore_extended */
    case 0x07: /* undefined */
    case 0x08: /* same_value */
      reg = uleb(c);
      if (reg == REG_RBP) row->rbp = op == 0x07 ? R_UNDEFINED : R_SAME;
      else if (reg == REG_RA) row->ra = op == 0x07 ? R_UNDEFINED : R_SAME;
      else if (reg == REG_RSP) row->rsp_ruled = true;
      continue;
    case 0x09: /* register */
    case 0x14: /* val_offset */
    case 0x15: /* val_offset_sf */
      reg = uleb(c);
      if (op == 0x15) sleb(c); else uleb(c);
      goto other;
    case 0x10: /* expression */
    case 0x16: /* val_expression */
      reg = uleb(c);
      {
        uint64_t len = uleb(c);
        if (len > (uint64_t)(c->end - c->p)) return false;
        c->p += len;
      }
      goto other;
    case 0x0a: /* remember_state */
      if (depth == STATE_DEPTH) return false;
      saved[depth++] = *row;
      continue;
    case 0x0b: /* restore_state: the CFA is part of the saved state in practice (GCC, LLVM) */
      if (depth == 0) return false;
      *row = saved[--depth];
      continue;
    case 0x0c: row->cfa_reg = (int)uleb(c); row->cfa_off = (int64_t)uleb(c); continue; /* def_cfa */
    case 0x12: row->cfa_reg = (int)uleb(c); row->cfa_off = sleb(c) * data_align; continue; /* def_cfa_sf */
    case 0x0d: if (row->cfa_reg < 0) return false; row->cfa_reg = (int)uleb(c); continue; /* def_cfa_register */
    case 0x0e: if (row->cfa_reg < 0) return false; row->cfa_off = (int64_t)uleb(c); continue; /* def_cfa_offset */
    case 0x13: if (row->cfa_reg < 0) return false; row->cfa_off = sleb(c) * data_align; continue; /* def_cfa_offset_sf */
    case 0x0f: { /* def_cfa_expression */
      uint64_t len = uleb(c);
      if (len > (uint64_t)(c->end - c->p)) return false;
      c->p += len;
      row->cfa_reg = -1;
      continue;
    }
    case 0x2e: uleb(c); continue; /* GNU_args_size: nothing to do for a walk */
    default: return false;
    }
  advance:
    if (*loc + delta * code_align > pc) return true;
    *loc += delta * code_align;
    continue;
  offset:
    if (reg == REG_RBP) { row->rbp = R_OFFSET; row->rbp_off = off; }
    else if (reg == REG_RA) { row->ra = R_OFFSET; row->ra_off = off; }
    else if (reg == REG_RSP) row->rsp_ruled = true;
    continue;
  restore:
    if (!initial) return false; /* DW_CFA_restore inside the CIE itself */
    if (reg == REG_RBP) { row->rbp = initial->rbp; row->rbp_off = initial->rbp_off; }
    else if (reg == REG_RA) { row->ra = initial->ra; row->ra_off = initial->ra_off; }
    else if (reg == REG_RSP) row->rsp_ruled = initial->rsp_ruled;
    continue;
  other:
    if (reg == REG_RBP) row->rbp = R_OTHER;
    else if (reg == REG_RA) row->ra = R_OTHER;
    else if (reg == REG_RSP) row->rsp_ruled = true;
    continue;
  }
  return !c->bad;
}

/* Length-prefixed entry (CIE or FDE) at p: sets the cursor to its contents. */
static bool entry(const uint8_t *p, cursor_t *c) {
  c->p = p;
  c->end = p + 12;
  c->bad = false;
  uint64_t len = fixed(c, 4);
  if (len == 0xffffffffu) len = fixed(c, 8);
  if (len == 0 || c->bad || len > (1u << 24)) return false;
  c->end = c->p + len;
  return true;
}

static hw_rule_t fallback(void) { return hw_rule_of_kind(HW_RULE_FALLBACK); }

hw_rule_t hw_cfi_decode(uintptr_t pc) {
  bool transient = false;
  return hw_cfi_decode_once(pc, &transient);
}

hw_rule_t hw_cfi_decode_once(uintptr_t pc, bool *transient) {
  const uint8_t *hdr;
  *transient = false;
  if (use_table) {
    hw_module_span_t m;
    int found = hw_module_table_find(pc, &m);
    if (found < 0) *transient = true;
    if (found != 0 || !m.eh_frame_hdr) return fallback();
    hdr = m.eh_frame_hdr;
  } else {
    struct hw_dlfo obj;
    if (!find_object || find_object((void *)pc, &obj) != 0 || !obj.eh_frame) return fallback();
    hdr = obj.eh_frame;
  }

  /* .eh_frame_hdr: version 1, then the encodings of eh_frame_ptr, fde_count and the table. The
   * binary search table is sorted (initial location, FDE) pairs, both 4-byte offsets from the
   * header's start, which is what every linker writes. */
  if (hdr[0] != 1 || hdr[3] != 0x3b) return fallback();
  cursor_t c = {hdr + 4, hdr + 4 + 16, false};
  encoded(&c, hdr[1]);
  uint64_t count = encoded(&c, hdr[2]);
  if (c.bad || count == 0) return fallback();
  const int32_t *table = (const int32_t *)c.p;
  intptr_t rel = (intptr_t)(pc - (uintptr_t)hdr);
  uint64_t lo = 0, hi = count;
  while (hi - lo > 1) {
    uint64_t mid = (lo + hi) / 2;
    if (table[2 * mid] <= rel) lo = mid; else hi = mid;
  }
  if (table[2 * lo] > rel) return fallback();
  const uint8_t *fde = hdr + table[2 * lo + 1];

  cursor_t f;
  if (!entry(fde, &f)) return fallback();
  const uint8_t *cie_field = f.p;
  uint32_t cie_delta = (uint32_t)fixed(&f, 4);
  if (cie_delta == 0) return fallback(); /* that was a CIE */
  cursor_t e;
  if (!entry(cie_field - cie_delta, &e)) return fallback();

  /* The CIE: id 0, version, augmentation, alignments, return register, augmentation data. */
  if (fixed(&e, 4) != 0) return fallback();
  uint8_t version = u8(&e);
  const char *aug = (const char *)e.p;
  size_t aug_len = strnlen(aug, (size_t)(e.end - e.p));
  e.p += aug_len + 1;
  uint64_t code_align = uleb(&e);
  int64_t data_align = sleb(&e);
  uint64_t ra_reg = version == 1 ? u8(&e) : uleb(&e);
  uint8_t fde_enc = 0;
  bool has_z = aug[0] == 'z';
  if (version != 1 && version != 3) return fallback();
  if (ra_reg != REG_RA || e.bad) return fallback();
  if (has_z) {
    uint64_t len = uleb(&e);
    const uint8_t *after = e.p + len;
    for (size_t i = 1; i < aug_len; i++) {
      switch (aug[i]) {
      case 'R': fde_enc = u8(&e); break;
      case 'P': encoded(&e, u8(&e) & 0x0f); break; /* the personality: only its size matters */
      case 'L': u8(&e); break;
      case 'S': return fallback(); /* a signal frame: libunwind knows the kernel's layout */
      default: return fallback();
      }
    }
    if (e.bad || after > e.end) return fallback();
    e.p = after;
  } else if (aug_len != 0) {
    return fallback();
  }

  /* The FDE: its range, then (with 'z') augmentation data to skip, then its instructions. */
  uintptr_t begin = encoded(&f, fde_enc);
  uintptr_t range = encoded(&f, fde_enc & 0x0f);
  if (f.bad || pc < begin || pc - begin >= range) return fallback();
  if (has_z) {
    uint64_t len = uleb(&f);
    if (len > (uint64_t)(f.end - f.p)) return fallback();
    f.p += len;
  }

  row_t row = {.cfa_reg = -1, .rbp = R_SAME, .ra = R_SAME};
  uintptr_t loc = begin;
  if (!execute(&e, &row, NULL, &loc, pc, code_align, data_align, fde_enc)) return fallback();
  row_t initial = row;
  loc = begin;
  if (!execute(&f, &row, &initial, &loc, pc, code_align, data_align, fde_enc)) return fallback();

  if (row.ra == R_UNDEFINED) return hw_rule_of_kind(HW_RULE_LAST);
  if (row.cfa_reg != REG_RSP && row.cfa_reg != REG_RBP) return fallback();
  if (row.rsp_ruled || row.ra != R_OFFSET || row.ra_off != -8) return fallback();
  if (row.rbp != R_SAME && row.rbp != R_OFFSET) return fallback();
  if (row.cfa_off < 8 - (1 << 23) || row.cfa_off >= (1 << 23)) return fallback();
  if (row.rbp == R_OFFSET && (row.rbp_off < -32768 || row.rbp_off > 32767)) return fallback();
  return hw_rule_step(row.cfa_reg == REG_RBP, (int32_t)row.cfa_off, row.rbp == R_OFFSET,
                      (int16_t)(row.rbp == R_OFFSET ? row.rbp_off : 0));
}

#else /* not x86-64: libunwind does everything */

bool hw_cfi_init(void) { return false; }
bool hw_cfi_uses_module_table(void) { return false; }
hw_rule_t hw_cfi_decode_once(uintptr_t pc, bool *transient) {
  *transient = false;
  return hw_cfi_decode(pc);
}
hw_rule_t hw_cfi_decode(uintptr_t pc) { return hw_rule_of_kind(HW_RULE_FALLBACK); }

#endif
