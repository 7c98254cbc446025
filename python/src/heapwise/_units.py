"""Sizes in and out, with the project's definitions: parsing as `heapwise check` parses a budget
(Sources/heapwise/CheckBudget.swift, Quantity: KiB/K powers of 1024, KB powers of 1000, "5e6"),
printing as the reports print (Sources/HeapwiseAnalysis/Units.swift: "1.2 MiB", "512 KiB")."""

import re

_UNITS = {
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
    "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "b": 1,
}
_NUMBER = re.compile(r"^[0-9.eE+]*")
_NAMES = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]


def parse_quantity(value, bytes_allowed=True):
    """"24 MB" -> 24000000, "1 MiB" -> 1048576, 4096 -> 4096, "5e6" -> 5000000.
    Raises ValueError with the project's wording for anything else."""
    if isinstance(value, bool):
        raise ValueError('not a size or count: "%s" (examples: 200MiB, 0, 5e6)' % value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError('not a size or count: "%s" (examples: 200MiB, 0, 5e6)' % value)
        return value
    text = str(value)
    trimmed = text.strip().lower()
    number_text = _NUMBER.match(trimmed).group(0)
    unit = trimmed[len(number_text):].strip()
    try:
        number = float(number_text)
    except ValueError:
        number = -1.0
    scale = 1
    if unit:
        scale = _UNITS.get(unit) if bytes_allowed else None
    if number < 0 or number != number or number == float("inf") or scale is None:
        raise ValueError('not a size or count: "%s" (examples: 200MiB, 0, 5e6)' % text)
    result = round(number * scale)
    if result >= 1.8e19:
        raise ValueError('not a size or count: "%s" (examples: 200MiB, 0, 5e6)' % text)
    return int(result)


def _one_decimal(v):
    tenths = int(round(v * 10))
    return "%d.%d" % (tenths // 10, tenths % 10)


def format_bytes(value):
    """Units.bytes: powers of 1024, one decimal below 100 of a unit, none above."""
    if value < 0:
        return "-" + format_bytes(-value)
    if value < 1024:
        return "%d B" % value
    v = float(value)
    unit = -1
    while v >= 1024 and unit < len(_NAMES) - 1:
        v /= 1024
        unit += 1
    if v >= 1023.95 and unit < len(_NAMES) - 1:
        v /= 1024
        unit += 1
    return ("%s %s" % (_one_decimal(v), _NAMES[unit])) if v < 99.95 else ("%d %s" % (round(v), _NAMES[unit]))
