/* hw_format.h: the dump format's constants and the encoder's primitives.
 * docs/FORMAT.md restates all of this byte by byte; Sources/HeapwiseFormat/RecordTag.swift holds
 * the same numbers and Tests/RecorderTests checks they agree.
 *
 *  dump   = header frame*
 *  header = "HEAPWISE" u16 major u16 minor u32 header_size u32 pid u32 ppid u32 page_size u32 flags
 *           u64 start_realtime_ns u64 start_monotonic_ns u64 start_ticks u64 ticks_per_second
 *           u32+exe u32+cmdline
 *  frame  = +-----------+----------+--------+-----+---------+-------+------+-----+
 *           |stored_size| raw_size | stream | seq | base_ts | flags | rsvd | crc |  payload...
 *           |    u32    |   u32    |  u32   | u32 |   u64   |  u16  | u16  | u32 |
 *           +-----------+----------+--------+-----+---------+-------+------+-----+
 *  record = u8 tag, uvarint ts_delta, body      (tags >= 0x80: uvarint body_len, body)
 *
 * ALLOCATION ENCODING (the common case, a malloc then its free, on one thread):
 *   01 | dt | svarint(addr - prev_addr) | uvarint(size) | uvarint(stack)   ~ 7..10 bytes
 *   10 | dt | svarint(addr - prev_addr)                                    ~ 2..5 bytes
 * prev_addr is per frame, so a free right after its allocation encodes the address in one byte.
 */
#ifndef HW_FORMAT_H
#define HW_FORMAT_H

#include <stdint.h>
#include <string.h>

#define HW_MAGIC "HEAPWISE"
#define HW_VERSION_MAJOR 1
#define HW_VERSION_MINOR 4
#define HW_HEADER_FIXED 64
#define HW_FRAME_HEADER 32
#define HW_FRAME_LIMIT (64u << 20)

#define HW_HEADER_FLAG_TSC 1u
#define HW_HEADER_FLAG_TRIM_PROBE 2u
#define HW_HEADER_FLAG_FORK_CHILD 4u
#define HW_HEADER_FLAG_AGGREGATE 8u /* 1.2: recorded with --aggregate */
#define HW_FRAME_FLAG_ZSTD 1u
/* Timestamp deltas in this frame count units of 2^HW_COARSE_SHIFT: written while only one thread
 * records, when file order alone orders every event (see thread.c). */
#define HW_FRAME_FLAG_COARSE_TIME 2u
#define HW_COARSE_SHIFT 16

enum hw_tag {
  HW_TAG_ALLOC = 0x00,   /* | function code 1..13 */
  HW_TAG_FREE = 0x10,    /* | function code 0, 3, 4, 10..15 */
  HW_TAG_MMAP = 0x20,
  HW_TAG_MUNMAP = 0x21,
  HW_TAG_MREMAP = 0x22,
  HW_TAG_MADVISE = 0x23, /* DONTNEED, FREE and REMOVE only: how allocators give pages back */
  HW_TAG_MPROTECT = 0x24,
  HW_TAG_STACK = 0x30,
  HW_TAG_THREAD = 0x31,
  HW_TAG_MODULE = 0x40,
  HW_TAG_UNLOAD = 0x41,
  HW_TAG_SAMPLE = 0x50,
  HW_TAG_CLOCK = 0x51,
  HW_TAG_MARKER = 0x52,
  HW_TAG_TRIM = 0x53,
  HW_TAG_SAMPLING = 0x54,  /* format 1.2: a sampled dump's parameters (sampling.c) */
  HW_TAG_SAMPLING_OFFSET = 0x55, /* format 1.4: the same with C, the bytes added to each allocation */
  HW_TAG_SKIPPABLE = 0x80, /* first tag with a length prefix */
  HW_TAG_RESIDENCY = 0x80,
  HW_TAG_PYCODE = 0x82,    /* a Python code object: file, name, first line, line table */
  HW_TAG_PYTHON = 0x83,    /* the CPython runtime: version, Python frames on or why not */
  HW_TAG_SAMPLING_STATS = 0x84, /* format 1.2: what the sampler kept and dropped, at exit */
  HW_TAG_AGGREGATE = 0x85, /* 1.2: per-site counters of aggregated mode (docs/AGGREGATE.md) */
  HW_TAG_END = 0xff,
};

enum hw_fn {
  HW_FN_FREE = 0,
  HW_FN_MALLOC = 1,
  HW_FN_CALLOC = 2,
  HW_FN_REALLOC = 3,
  HW_FN_REALLOCARRAY = 4,
  HW_FN_POSIX_MEMALIGN = 5,
  HW_FN_ALIGNED_ALLOC = 6,
  HW_FN_MEMALIGN = 7,
  HW_FN_VALLOC = 8,
  HW_FN_PVALLOC = 9,
  /* Format 1.1. C++ operators: ALLOC for new (nothrow the same), FREE for the matching delete
   * (sized and nothrow the same). hooks_cxx.c. */
  HW_FN_NEW = 10,
  HW_FN_NEW_ARRAY = 11,
  HW_FN_NEW_ALIGNED = 12,
  HW_FN_NEW_ARRAY_ALIGNED = 13,
  /* C23, FREE only. */
  HW_FN_FREE_SIZED = 14,
  HW_FN_FREE_ALIGNED_SIZED = 15,
};

enum hw_marker_source { HW_MARKER_API = 0, HW_MARKER_SIGNAL = 1, HW_MARKER_TRIGGER = 2 /* 1.2 */ };
/* 1.2, aggregated mode: the stream of the latest totals frame, which each flush replaces. */
#define HW_AGG_STREAM 0xffffffu
enum hw_agg_kind { HW_AGG_TOTALS = 0, HW_AGG_MOMENT = 1 };
enum hw_end_reason { HW_END_EXIT = 0, HW_END_UNDERSCORE_EXIT = 1, HW_END_SIGNAL = 2, HW_END_EXEC = 3 };

enum hw_sample_key {
  HW_SAMPLE_VSIZE = 1,
  HW_SAMPLE_RSS = 2,
  HW_SAMPLE_RSS_FILE = 3,
  HW_SAMPLE_ROLLUP_RSS = 10,
  HW_SAMPLE_ROLLUP_PSS = 11,
  HW_SAMPLE_ROLLUP_ANON = 12,
  HW_SAMPLE_ROLLUP_PRIVATE_DIRTY = 13,
  HW_SAMPLE_ROLLUP_SWAP = 14,
  HW_SAMPLE_MALLINFO_ARENA = 20, /* ..27 in mallinfo2 field order, see FORMAT.md */
  HW_SAMPLE_JEMALLOC_ALLOCATED = 30, /* ..35 */
  HW_SAMPLE_TCMALLOC_ALLOCATED = 36, /* ..39 */
  HW_SAMPLE_RECORDER_BYTES = 40,
  HW_SAMPLE_STACKS = 42,
  HW_SAMPLE_BACKLOG = 43,
  HW_SAMPLE_ALLOCATOR = 44,
};

/* Largest encodings, for the "is there room" check done once per record. */
#define HW_VARINT_MAX 10

static inline uint8_t *hw_put_uvarint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t)v;
  return p;
}

static inline uint8_t *hw_put_svarint(uint8_t *p, int64_t v) {
  return hw_put_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline uint8_t *hw_put_bytes(uint8_t *p, const void *s, size_t n) {
  p = hw_put_uvarint(p, n);
  memcpy(p, s, n);
  return p + n;
}

static inline void hw_put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void hw_put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void hw_put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* The head of every record: the tag, then the timestamp delta from *last, floored to units of
 * 2^shift (0, or HW_COARSE_SHIFT in a coarse-time frame) and never negative; advances *last.
 * Shared by the thread encoder (thread.c), the process stream and the emergency END (writer.c). */
static inline uint8_t *hw_put_record_head(uint8_t *p, uint8_t tag, uint64_t ts, uint64_t *last, unsigned shift) {
  ts = ts >> shift << shift;
  uint64_t dt = ts > *last ? ts - *last : 0;
  *last += dt;
  *p++ = tag;
  return hw_put_uvarint(p, dt >> shift);
}

/* CRC-32C (Castagnoli), the checksum of every frame. platform.c. */
uint32_t hw_crc32c(uint32_t crc, const void *data, size_t size);

#endif /* HW_FORMAT_H */
