// CRC-32C (Castagnoli), reflected, init and final xor 0xFFFFFFFF, as the frame header requires.
// Every stored byte of the dump passes through here once, before the analysis starts: the CPU's
// crc32 instruction where there is one (CKernels), else slice-by-8 tables, about 8x fewer
// table steps than the bytewise loop.
import CKernels

package enum CRC32C {
  static let polynomial: UInt32 = 0x82F6_3B78

  static let tables: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 8 * 256)
    for i in 0..<256 {
      var c = UInt32(i)
      for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ polynomial : c >> 1 }
      t[i] = c
    }
    for k in 1..<8 {
      for i in 0..<256 {
        let prev = t[(k - 1) * 256 + i]
        t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xff)]
      }
    }
    return t
  }()

  static let hasHardware = hw_crc32c_hardware() != 0

  /// Continues a running CRC (start with 0) over `bytes`.
  package static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    guard hasHardware, let p = bytes.baseAddress else { return softwareUpdate(crc, bytes) }
    return ~hw_crc32c_raw(~crc, p, bytes.count)
  }

  /// `update` with the tables (the path of CPUs without the instruction; tests check both).
  package static func softwareUpdate(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var c = ~crc
    guard var p = bytes.baseAddress else { return crc }
    var n = bytes.count
    tables.withUnsafeBufferPointer { t in
      while n >= 8 {
        let lo = p.loadUnaligned(as: UInt32.self).littleEndian ^ c
        let hi = (p + 4).loadUnaligned(as: UInt32.self).littleEndian
        c = t[7 * 256 + Int(lo & 0xff)] ^ t[6 * 256 + Int((lo >> 8) & 0xff)]
          ^ t[5 * 256 + Int((lo >> 16) & 0xff)] ^ t[4 * 256 + Int(lo >> 24)]
          ^ t[3 * 256 + Int(hi & 0xff)] ^ t[2 * 256 + Int((hi >> 8) & 0xff)]
          ^ t[1 * 256 + Int((hi >> 16) & 0xff)] ^ t[Int(hi >> 24)]
        p += 8
        n -= 8
      }
      while n > 0 {
        c = (c >> 8) ^ t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xff)]
        p += 1
        n -= 1
      }
    }
    return ~c
  }

  package static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { update(0, bytes) }

  package static func checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { checksum($0) }
  }
}
