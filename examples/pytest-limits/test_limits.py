"""Per-test memory limits with `pytest --heapwise` (docs/PYTHON.md). The tests named
test_fails_* exceed their limit on purpose: the heapwise suite runs this file and checks their
failure messages (Tests/EndToEndTests/PythonPluginTests.swift)."""

import pytest

CACHE = []  # what test_fails_leaks leaves behind


@pytest.mark.limit_memory("1 MB")
def test_small_list_fits():
    data = list(range(10_000))  # about 80 KB of pointers and 10,000 int objects
    assert sum(data) == 49_995_000


@pytest.mark.limit_memory("1 MB")
def test_fails_peak():
    buffer = bytearray(4 * 1024 * 1024)  # 4 MiB, freed before the test ends: peak, not a leak
    assert len(buffer) == 4 * 1024 * 1024


@pytest.mark.limit_leaks("64 KiB")
def test_churn_is_not_a_leak():
    for _ in range(200):
        chunk = [bytes(1000) for _ in range(100)]  # 100 KB made and dropped, 200 times
        del chunk


@pytest.mark.limit_leaks("64 KiB")
def test_fails_leaks():
    CACHE.extend(bytes(1000) for _ in range(1000))  # about 1 MB kept after the test


@pytest.mark.limit_allocations(100)
def test_fails_allocations():
    words = [str(i) for i in range(1000)]  # a thousand new str objects
    assert len(words) == 1000


@pytest.mark.limit_leaks("1 KiB")
@pytest.mark.limit_allocations(100)
def test_first_import_is_not_counted():
    import fractions  # a first import: its modules stay for the rest of the process

    assert fractions.Fraction(1, 3) * 3 == 1


def test_unlimited_is_only_measured():
    table = {i: str(i) for i in range(5000)}
    assert len(table) == 5000
