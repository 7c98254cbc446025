// The little of the protobuf wire format that profile.proto needs: varints, packed varints,
// length-delimited strings and nested messages. Fields at their default (0, "", false) are
// omitted, as proto3 encoders do.

struct ProtobufWriter {
  private(set) var bytes: [UInt8] = []

  private mutating func varint(_ v: UInt64) {
    var v = v
    while v >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  private mutating func key(_ field: Int, wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }

  mutating func uint64(_ field: Int, _ v: UInt64) {
    guard v != 0 else { return }
    key(field, wireType: 0)
    varint(v)
  }

  /// int64 is encoded as its two's complement varint (ten bytes when negative).
  mutating func int64(_ field: Int, _ v: Int64) { uint64(field, UInt64(bitPattern: v)) }

  mutating func bool(_ field: Int, _ v: Bool) { uint64(field, v ? 1 : 0) }

  mutating func bytes(_ field: Int, _ data: some Collection<UInt8>) {
    key(field, wireType: 2)
    varint(UInt64(data.count))
    bytes.append(contentsOf: data)
  }

  /// A string is written even when empty: profile.proto's string table must start with "".
  mutating func string(_ field: Int, _ s: String) { bytes(field, Array(s.utf8)) }

  mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
    var inner = ProtobufWriter()
    body(&inner)
    bytes(field, inner.bytes)
  }

  mutating func packed(_ field: Int, _ values: some Collection<UInt64>) {
    guard !values.isEmpty else { return }
    var inner = ProtobufWriter()
    for v in values { inner.varint(v) }
    bytes(field, inner.bytes)
  }
}
