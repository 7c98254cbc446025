"""Validates a speedscope file against speedscope-schema.json (next to this script) with PyPI's
jsonschema, checks what a schema cannot say (frame indices in range, one weight per sample), and
prints each profile's unit, total weight and first stack's frame names as JSON.

    python validate_speedscope.py FILE.speedscope.json"""
import json
import os
import sys

import jsonschema


def main(path):
    here = os.path.dirname(os.path.abspath(__file__))
    schema = json.load(open(os.path.join(here, "speedscope-schema.json")))
    doc = json.load(open(path))
    jsonschema.validate(doc, schema)
    frames = doc["shared"]["frames"]
    out = []
    for p in doc["profiles"]:
        assert len(p["samples"]) == len(p["weights"]), "one weight per sample"
        for stack in p["samples"]:
            assert all(0 <= i < len(frames) and i == int(i) for i in stack), "frame index out of range"
        assert p["startValue"] <= p["endValue"]
        out.append({
            "name": p["name"], "unit": p["unit"], "total": sum(p["weights"]),
            "stacks": [[frames[i]["name"] for i in s] for s in p["samples"]],
        })
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
