"""Site names and the user-code rule, case by case as the analyzer has them (SiteName.of,
PythonModuleName, PythonUserCode in Sources/): the plugin's and the analyzer's must agree."""

from heapwise import _symbols
from heapwise._symbols import Frame


def test_site_name_forms():
    # function (file:line), with the file's name only
    assert Frame("native", module="/usr/lib/libfoo.so", offset=0x10, function="grow", file="/src/sites.c",
                 line=42).site_name == "grow (sites.c:42)"
    assert Frame("python", function="Box.method", file="/home/u/job.py", line=7).site_name == "Box.method (job.py:7)"
    # function (module) without a line: a native frame's module file, a Python frame's module
    assert Frame("native", module="/usr/lib/x86_64-linux-gnu/libc.so.6", offset=1,
                 function="strdup").site_name == "strdup (libc.so.6)"
    assert Frame("python", function="JSONDecoder.decode",
                 file="/usr/lib/python3.12/json/decoder.py").site_name == "JSONDecoder.decode (json.decoder)"
    # file:line without a function; module+0xoffset without anything
    assert Frame("native", module="/x/a.so", offset=3, file="a.c", line=9).site_name == "a.c:9"
    assert Frame("native", module="/x/a.so", offset=0x2a).site_name == "a.so+0x2a"


def test_python_module_names():
    m = _symbols.python_module
    assert m("/usr/lib/python3.12/json/decoder.py") == "json.decoder"
    assert m("/v/lib/python3.11/site-packages/pandas/core/frame.py") == "pandas.core.frame"
    assert m("/usr/lib/python3/dist-packages/numpy/__init__.py") == "numpy"
    assert m("/home/u/job.py") == "job"
    assert m("<frozen importlib._bootstrap>") == "<frozen importlib._bootstrap>"


def test_user_code_rule():
    user = _symbols.is_user_file
    assert user("/home/u/project/job.py") and user("job.py") and user("<string>")
    assert not user("<frozen importlib._bootstrap>")
    assert not user("/v/lib/python3.11/site-packages/pandas/core/frame.py")
    assert not user("/usr/lib/python3/dist-packages/numpy/core/numeric.py")
    assert not user("/root/.pyenv/versions/3.11.7/lib/python3.11/threading.py")
    assert not user("/usr/lib64/python3.12/json/decoder.py")
