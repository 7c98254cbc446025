#!/usr/bin/env python3
# tools/fuzz/fix-checksums.py IN OUT: writes IN with every whole frame's CRC-32C recomputed, as the
# harness does before a command reads an input (FuzzHarness.fixChecksums, docs/FORMAT.md), so that
# a fuzzer artifact fails the CLI the way it failed the harness; that file goes to Tests/FuzzCases/.
import sys, struct
T=[]
for i in range(256):
    c=i
    for _ in range(8): c = (c>>1) ^ 0x82F63B78 if c&1 else c>>1
    T.append(c)
def upd(crc, b):
    c = crc ^ 0xFFFFFFFF
    for x in b: c = T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF
b = bytearray(open(sys.argv[1],'rb').read())
u32 = lambda o: struct.unpack_from('<I', b, o)[0]
if len(b) >= 16:
    off = u32(12)
    while off >= 16 and off + 32 <= len(b):
        st = u32(off)
        if st > len(b) - off - 32: break
        crc = upd(upd(0, b[off:off+28]), b[off+32:off+32+st])
        struct.pack_into('<I', b, off+28, crc)
        off += 32 + st
open(sys.argv[2],'wb').write(b)
