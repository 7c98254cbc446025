/* tools/pyframes-offsets.c: prints the offsets CShim/pyframes.c's 3.11 and 3.12 tables hold,
 * from an interpreter's own internal headers. Run it for a new patch release whose layout the
 * recorder reports as differing:
 *   cc -I$PREFIX/include/python3.12 -I$PREFIX/include/python3.12/internal tools/pyframes-offsets.c && ./a.out
 * (code.adaptive is also what PyCode_Type's tp_basicsize must equal.) */
#define Py_BUILD_CORE 1
#include <Python.h>
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#include "internal/pycore_frame.h"
#include "internal/pycore_code.h"
#include <stdio.h>
#include <stddef.h>
#define P(name, expr) printf("%-28s %zu\n", name, (size_t)(expr))
int main(void) {
  printf("version %x\n", PY_VERSION_HEX);
#if PY_VERSION_HEX < 0x030C0000
  P("rt.tss", offsetof(_PyRuntimeState, gilstate.autoTSSkey));
#else
  P("rt.tss", offsetof(_PyRuntimeState, autoTSSkey));
#endif
  P("rt.finalizing", offsetof(_PyRuntimeState, _finalizing));
  P("rt.interp_head", offsetof(_PyRuntimeState, interpreters.head));
  P("rt.interp_main", offsetof(_PyRuntimeState, interpreters.main));
  P("rt.size", sizeof(_PyRuntimeState));
  P("interp.threads_head", offsetof(PyInterpreterState, threads.head));
  P("ts.next", offsetof(PyThreadState, next));
  P("ts.interp", offsetof(PyThreadState, interp));
  P("ts.thread_id", offsetof(PyThreadState, thread_id));
#if PY_VERSION_HEX < 0x030D0000
  P("ts.cframe", offsetof(PyThreadState, cframe));
  P("cframe.current_frame", offsetof(_PyCFrame, current_frame));
  P("frame.code", offsetof(_PyInterpreterFrame, f_code));
  P("frame.instr", offsetof(_PyInterpreterFrame, prev_instr));
#else
  P("ts.current_frame", offsetof(PyThreadState, current_frame));
  P("frame.code", offsetof(_PyInterpreterFrame, f_executable));
  P("frame.instr", offsetof(_PyInterpreterFrame, instr_ptr));
#endif
  P("frame.previous", offsetof(_PyInterpreterFrame, previous));
  P("frame.owner", offsetof(_PyInterpreterFrame, owner));
#if PY_VERSION_HEX < 0x030C0000
  P("frame.is_entry", offsetof(_PyInterpreterFrame, is_entry));
#endif
  P("code.size", sizeof(PyCodeObject));
  P("code.filename", offsetof(PyCodeObject, co_filename));
  P("code.qualname", offsetof(PyCodeObject, co_qualname));
  P("code.linetable", offsetof(PyCodeObject, co_linetable));
  P("code.firstlineno", offsetof(PyCodeObject, co_firstlineno));
  P("code.flags", offsetof(PyCodeObject, co_flags));
  P("code.argcount", offsetof(PyCodeObject, co_argcount));
  P("code.adaptive", offsetof(PyCodeObject, co_code_adaptive));
  P("unicode.size", sizeof(PyUnicodeObject));
  P("unicode.state", offsetof(PyASCIIObject, state));
  P("unicode.length", offsetof(PyASCIIObject, length));
  P("unicode.ascii_size", sizeof(PyASCIIObject));
  P("unicode.compact_size", sizeof(PyCompactUnicodeObject));
  P("bytes.size", offsetof(PyBytesObject, ob_sval));
  P("bytes.ob_size", offsetof(PyVarObject, ob_size));
  P("type.basicsize", offsetof(PyTypeObject, tp_basicsize));
  P("type.itemsize", offsetof(PyTypeObject, tp_itemsize));
  P("obj.type", offsetof(PyObject, ob_type));
  return 0;
}
