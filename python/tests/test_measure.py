"""The scope engine from Python counts what it counts from C (and so from Swift, whose budgets
use the same engine): the same numbers for the same work."""

import ctypes
import shutil
import subprocess
import textwrap

import pytest

import heapwise

C_SOURCE = textwrap.dedent("""
    #include <stdlib.h>
    #include "heapwise_scope.h"
    static void *kept[3];
    /* 10 blocks of 1000 bytes; 3 kept, 7 freed; at most 10 live at once. */
    void work(void) {
      void *b[10];
      for (int i = 0; i < 10; i++) b[i] = malloc(1000);
      for (int i = 3; i < 10; i++) free(b[i]);
      for (int i = 0; i < 3; i++) kept[i] = b[i];
    }
    void release(void) { for (int i = 0; i < 3; i++) free(kept[i]); }
    /* The same work measured from C, as HeapwiseBudget measures it. */
    void measure_in_c(unsigned long long out[6]) {
      heapwise_scope *s = heapwise_scope_begin(HEAPWISE_SCOPE_THREAD, HEAPWISE_SCOPE_SITES);
      work();
      heapwise_scope_stats st;
      heapwise_scope_stop(s, &st);
      heapwise_scope_release(s);
      unsigned long long v[6] = {st.allocations, st.frees, st.bytes_allocated, st.peak_bytes,
                                 st.leaked_blocks, st.leaked_bytes};
      for (int i = 0; i < 6; i++) out[i] = v[i];
    }
""")


@pytest.fixture(scope="module")
def worklib(tmp_path_factory, library):
    import os
    cc = shutil.which("cc")
    if cc is None:
        pytest.fail("no C compiler (cc) for the comparison library")
    d = tmp_path_factory.mktemp("worklib")
    (d / "work.c").write_text(C_SOURCE)
    include = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(library))), "CShim", "include")
    so = d / "libwork.so"
    subprocess.run([cc, "-O1", "-fno-builtin", "-shared", "-fPIC", "-I", include, "-o", str(so), str(d / "work.c")], check=True)
    lib = ctypes.CDLL(str(so))
    for f in (lib.work, lib.release):
        f.restype = None
        f.argtypes = []
    return lib


def figures(u):
    return [u.allocations, u.frees, u.bytes_allocated, u.peak_bytes, u.leaked_blocks, u.leaked_bytes]


def test_an_empty_body_measures_nothing():
    from heapwise import _measure

    def empty():
        pass

    _, _, usage = _measure.call_measured(_measure.Scope(), empty, ())
    assert figures(usage) == [0, 0, 0, 0, 0, 0]
    assert (usage.older_frees, usage.runtime_allocations) == (0, 0)
    # The with statement frees the bound __enter__ it called once the scope is open: one free
    # of an older block, and nothing else.
    with heapwise.measure() as m:
        pass
    assert figures(m.usage) == [0, m.usage.older_frees, 0, 0, 0, 0] and m.usage.older_frees <= 1


def test_same_numbers_as_the_c_api(worklib):
    from heapwise import _measure

    _, _, usage = _measure.call_measured(_measure.Scope(), worklib.work, ())
    worklib.release()
    out = (ctypes.c_ulonglong * 6)()
    worklib.measure_in_c(out)
    worklib.release()
    # Frees of the work's own blocks: 7 from both. A free of an older block by the interpreter
    # on this thread meanwhile (seen once in a loaded full run) is not the work's, and the C
    # measurement has no interpreter around it.
    own = figures(usage)
    own[1] -= usage.older_frees
    assert own == [10, 7, 10000, 10000, 3, 3000], (figures(usage), usage.older_frees)
    assert list(out) == [10, 7, 10000, 10000, 3, 3000]


def test_small_objects_are_blocks_of_their_own():
    """Under the plugin Python runs with PYTHONMALLOC=malloc: every small object is a malloc
    block of its exact size (no pymalloc arena hides it)."""
    import os
    assert os.environ.get("PYTHONMALLOC") == "malloc"
    with heapwise.measure() as m:
        kept = [object() for _ in range(1000)]
    assert m.usage.allocations >= 1000
    assert m.usage.leaked_blocks >= 1000
    assert m.usage.leaked_bytes >= 1000 * 16
    del kept


def test_a_cycle_collected_at_the_end_is_not_a_leak():
    from heapwise import _measure

    class Node:
        pass

    def make_cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a

    for collect, leaks in ((True, False), (False, True)):
        _, _, usage = _measure.call_measured(_measure.Scope(), make_cycle, (), collect=collect)
        assert (usage.leaked_blocks > 0) == leaks, (collect, usage)
