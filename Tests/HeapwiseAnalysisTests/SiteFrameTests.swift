// Which frame names a site (SiteOptions.siteFrame) and which Python files are the user's own
// (PythonUserCode): the cases python/tests/test_sites.py checks for the pytest plugin, which
// must agree.
import Testing

@testable import HeapwiseAnalysis

struct SiteFrameTests {
  static func native(_ function: String, _ module: String = "libfoo.so") -> SourceFrame {
    SourceFrame(function: function, file: nil, line: nil, module: module, moduleOffset: 0x10, isInlined: false)
  }
  static func python(_ function: String, _ file: String, _ line: Int) -> SourceFrame {
    SourceFrame(function: function, file: file, line: line, module: PythonModuleName.of(file), moduleOffset: 8,
                isInlined: false, kind: .python)
  }

  @Test func aPythonFrameNamesAMixedStack() {
    let frames = [
      Self.native("default_malloc", "_multiarray_umath.so"), Self.native("PyArray_NewFromDescr", "_multiarray_umath.so"),
      Self.python("_stack_arrays", "/v/lib/python3.11/site-packages/pandas/core/internals/managers.py", 2494),
      Self.python("main", "/home/u/view.py", 24),
    ]
    #expect(SiteOptions.siteFrame(frames) == 2)
    #expect(frames[2].siteName == "_stack_arrays (managers.py:2494)")
    #expect(frames.first(where: PythonUserCode.contains)?.siteName == "main (view.py:24)")
  }

  @Test func aNativeStackKeepsItsInnermostCandidate() {
    #expect(SiteOptions.siteFrame([Self.native("grow"), Self.native("main")]) == 0)
    #expect(SiteOptions.siteFrame([]) == nil)
  }

  @Test func theUserCodeRule() {
    for file in ["/home/u/project/job.py", "job.py", "<string>", "<stdin>"] {
      #expect(PythonUserCode.contains(file), "\(file)")
    }
    for file in [
      "<frozen importlib._bootstrap>", "/v/lib/python3.11/site-packages/pandas/core/frame.py",
      "/usr/lib/python3/dist-packages/numpy/core/numeric.py", "/root/.pyenv/versions/3.11.7/lib/python3.11/threading.py",
      "/usr/lib64/python3.12/json/decoder.py",
    ] {
      #expect(!PythonUserCode.contains(file), "\(file)")
    }
    #expect(PythonModuleName.of("/usr/lib/python3/dist-packages/numpy/__init__.py") == "numpy")
    #expect(PythonModuleName.of("/v/lib/python3.11/site-packages/pandas/core/frame.py") == "pandas.core.frame")
  }
}
