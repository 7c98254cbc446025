"""The plugin's call of a test adds nothing to what the test allocates, whatever its shape."""

SHAPES = '''
import pytest

@pytest.fixture
def data():
    return list(range(100))

class TestInAClass:
    @pytest.mark.limit_allocations(0)
    def test_method(self, data):
        assert data[0] == 0

@pytest.mark.limit_allocations(0)
def test_keyword_only(*, data):
    assert data

@pytest.mark.limit_allocations(0)
@pytest.mark.parametrize("n", [1, 2])
def test_parametrized(data, n):
    assert data[n] == n

@pytest.mark.limit_allocations(0)
@pytest.mark.limit_leaks(0)
def test_one_list_kept(data):
    data.append([])
'''


def test_the_call_itself_allocates_nothing(pytester):
    pytester.makepyfile(test_shapes=SHAPES)
    result = pytester.runpytest_subprocess("--heapwise", "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=4, failed=1)
    out = result.stdout.str()
    # The one test that allocates: a list object (an exact 56 bytes with PYTHONMALLOC=malloc on
    # 3.11) and the fixture list's growth; two limits, two messages.
    assert "heapwise: limit_allocations exceeded: " in out
    assert "heapwise: limit_leaks exceeded: " in out
    assert "FAILED test_shapes.py::test_one_list_kept" in out
