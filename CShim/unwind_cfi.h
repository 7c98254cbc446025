/* unwind_cfi.h: the decoded unwind rule of one instruction address, shared by unwind_cfi.c (which
 * reads it out of a module's .eh_frame) and unwind.c (which walks stacks with it). */
#ifndef HW_UNWIND_CFI_H
#define HW_UNWIND_CFI_H

#include <stdbool.h>
#include <stdint.h>

/* What the walker can do at an address. Everything but STEP and LAST is left to libunwind. */
enum {
  HW_RULE_NONE = 0,     /* not decoded (an empty cache slot) */
  HW_RULE_STEP = 1,     /* CFA = rsp or rbp + offset, return address at CFA-8, rbp kept or saved */
  HW_RULE_LAST = 2,     /* the return address is undefined: the outermost frame (_start, clone3) */
  HW_RULE_FALLBACK = 3, /* no unwind info, a signal frame, an expression, another register... */
};

/* One rule in 64 bits, so a cache slot is two words written without a lock. The generation of
 * the module set it was decoded under lives in the top bits (unwind.c). Explicit shifts, not
 * bitfields: GCC rebuilt the whole word from its bitfields on every cache hit (about 25
 * instructions a frame walked, callgrind on sqlite3).
 *   bits 0-23 cfa_off (signed): CFA = base register + cfa_off
 *   bits 24-39 rbp_off (signed): rbp saved at CFA + rbp_off, when rbp_saved
 *   bits 40-41 kind (HW_RULE_*), bit 42 cfa_rbp (base register: 0 rsp, 1 rbp),
 *   bit 43 rbp_saved (else rbp keeps its value across the frame), bits 44-63 the generation */
typedef struct {
  uint64_t bits;
} hw_rule_t;

static inline hw_rule_t hw_rule_of_kind(unsigned kind) { return (hw_rule_t){(uint64_t)(kind & 3) << 40}; }
static inline hw_rule_t hw_rule_step(bool cfa_rbp, int32_t cfa_off, bool rbp_saved, int16_t rbp_off) {
  return (hw_rule_t){((uint64_t)(uint32_t)cfa_off & 0xffffff) | (uint64_t)(uint16_t)rbp_off << 24 |
                     (uint64_t)HW_RULE_STEP << 40 | (uint64_t)cfa_rbp << 42 | (uint64_t)rbp_saved << 43};
}
static inline unsigned hw_rule_kind(hw_rule_t r) { return (unsigned)(r.bits >> 40) & 3; }
static inline int32_t hw_rule_cfa_off(hw_rule_t r) { return (int32_t)((int64_t)(r.bits << 40) >> 40); }
static inline int16_t hw_rule_rbp_off(hw_rule_t r) { return (int16_t)(uint16_t)(r.bits >> 24); }
static inline bool hw_rule_cfa_rbp(hw_rule_t r) { return (r.bits >> 42) & 1; }
static inline bool hw_rule_rbp_saved(hw_rule_t r) { return (r.bits >> 43) & 1; }
static inline uint32_t hw_rule_gen(hw_rule_t r) { return (uint32_t)(r.bits >> 44); }
static inline hw_rule_t hw_rule_with_gen(hw_rule_t r, uint32_t gen) {
  return (hw_rule_t){(r.bits & ((1ull << 44) - 1)) | (uint64_t)(gen & 0xfffff) << 44};
}

/* Decodes the rule that holds at `pc` (an address inside an instruction: the innermost frame's
 * pc, or a return address minus one). Never faults on a loaded module's own unwind tables; any
 * form it does not know gives HW_RULE_FALLBACK. */
hw_rule_t hw_cfi_decode(uintptr_t pc);
/* Like hw_cfi_decode; *transient is set when the answer is FALLBACK only for now (the module
 * table was busy): it must not be cached. */
hw_rule_t hw_cfi_decode_once(uintptr_t pc, bool *transient);
/* Finds modules with _dl_find_object (glibc 2.35+) or, before it or with HEAPWISE_MODULE_TABLE=1,
 * with unwind_modules.c's table. false only off x86-64: then libunwind does all the work. */
bool hw_cfi_init(void);
bool hw_cfi_uses_module_table(void);

/* unwind_modules.c: a module's span and its .eh_frame_hdr (NULL if it has none). */
typedef struct {
  uintptr_t start, end;
  const uint8_t *eh_frame_hdr;
} hw_module_span_t;
/* 0: found; 1: pc is in no module; -1: the table is busy (another thread, or this one interrupted
 * by a signal): the answer is unknown for now. Never waits, never allocates. */
int hw_module_table_find(uintptr_t pc, hw_module_span_t *out);
void hw_module_table_after_fork_child(void);
/* Lookups so far, and how many of them found the table busy (the check mode's report). */
uint64_t hw_module_table_lookups(uint64_t *busy);

#endif
