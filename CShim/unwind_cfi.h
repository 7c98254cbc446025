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
 * the module set it was decoded under lives in the top bits (unwind.c). */
typedef union {
  uint64_t bits;
  struct {
    int64_t cfa_off : 24;   /* CFA = base register + cfa_off */
    int64_t rbp_off : 16;   /* rbp saved at CFA + rbp_off, when rbp_saved */
    uint64_t kind : 2;      /* HW_RULE_* */
    uint64_t cfa_rbp : 1;   /* base register: 0 rsp, 1 rbp */
    uint64_t rbp_saved : 1; /* else rbp keeps its value across the frame */
    uint64_t gen : 20;      /* unwind.c's module generation */
  };
} hw_rule_t;

/* Decodes the rule that holds at `pc` (an address inside an instruction: the innermost frame's
 * pc, or a return address minus one). Never faults on a loaded module's own unwind tables; any
 * form it does not know gives HW_RULE_FALLBACK. */
hw_rule_t hw_cfi_decode(uintptr_t pc);
/* false when this glibc has no _dl_find_object (before 2.35): then libunwind does all the work. */
bool hw_cfi_init(void);

#endif
