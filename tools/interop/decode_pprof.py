"""Decodes a gzip'd pprof profile with PyPI's protobuf package and prints what the tests check,
as JSON: sample types, the total of each, the default type, mappings, and every location's lines
(innermost first) by function name, file and line.

    python decode_pprof.py DESCRIPTOR_SET PROFILE.pb.gz

DESCRIPTOR_SET is `protoc --descriptor_set_out` of profile.proto (next to this script)."""
import gzip
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def main(descriptor_path, profile_path):
    files = descriptor_pb2.FileDescriptorSet.FromString(open(descriptor_path, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for f in files.file:
        pool.Add(f)
    Profile = message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))
    p = Profile.FromString(gzip.decompress(open(profile_path, "rb").read()))
    s = p.string_table
    assert s[0] == "", "string_table[0] must be empty"
    types = [(s[t.type], s[t.unit]) for t in p.sample_type]
    totals = {name: 0 for name, _ in types}
    for sample in p.sample:
        assert len(sample.value) == len(types), "one value per sample type"
        for (name, _), v in zip(types, sample.value):
            totals[name] += v
    functions = {f.id: {"name": s[f.name], "file": s[f.filename]} for f in p.function}
    mappings = {m.id: m for m in p.mapping}
    locations = {}
    for loc in p.location:
        assert loc.mapping_id == 0 or loc.mapping_id in mappings, "location names a missing mapping"
        locations[loc.id] = [dict(functions[l.function_id], line=l.line) for l in loc.line]
    for sample in p.sample:
        for lid in sample.location_id:
            assert lid in locations, "sample names a missing location"
    print(json.dumps({
        "sample_types": [f"{n}/{u}" for n, u in types],
        "default_sample_type": s[p.default_sample_type],
        "totals": totals,
        "samples": len(p.sample),
        "mappings": [{"file": s[m.filename], "build_id": s[m.build_id], "has_functions": m.has_functions,
                      "has_line_numbers": m.has_line_numbers, "has_inline_frames": m.has_inline_frames}
                     for m in p.mapping],
        "locations": list(locations.values()),
        "comments": [s[c] for c in p.comment],
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
