#include "pytest/collect_script.h"

namespace mael {

// Runs pytest's own collection (conftest files, ini settings and plugins included) in the test
// container and prints one JSON object per item, gzipped and in base64 (a job's output is
// bounded; this holds about ten times as many items). Everything else the collection prints
// (pytest's report, a conftest's prints) goes to stderr, so it cannot corrupt the list.
// The first argument is a JSON list of the names in the project's top directory: pytest does not
// descend into other entries of the working directory (with the default working directory "/",
// the interpreter, /proc, /usr...), as it would not on this machine. The rest go to pytest.
// Exit code: pytest's, with "no tests collected" (5) taken as success; 97: no pytest.
std::string_view pytest_collect_script() {
  return R"PY(
import io, json, os, sys

out = io.StringIO()
real_stdout = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
sys.stdout = sys.stderr
project_names = set(json.loads(sys.argv[1]))
args = sys.argv[2:]

def emit(obj):
    out.write(json.dumps(obj) + "\n")

try:
    import pytest
except ImportError as e:
    sys.stderr.write("maelstrom-pytest: cannot import pytest with %s: %s\n" % (sys.executable, e))
    sys.exit(97)

try:
    from _pytest.skipping import evaluate_skip_marks
except ImportError:
    evaluate_skip_marks = None


def skip_reason(item):
    """pytest's own verdict on skip/skipif marks, or None when the item runs."""
    if evaluate_skip_marks is not None:
        try:
            s = evaluate_skip_marks(item)
        except Exception:
            return None  # a condition that fails to evaluate: pytest reports it when the test runs
        return None if s is None else (s.reason or "skipped")
    for m in item.iter_markers():
        if m.name == "skip":
            return m.kwargs.get("reason", m.args[0] if m.args else "unconditional skip")
    return None


class Collector:
    def __init__(self):
        self.items = []

    def pytest_collection_modifyitems(self, session, config, items):
        self.items = list(items)

    def pytest_ignore_collect(self, collection_path, config):
        p = str(collection_path)
        if os.path.dirname(p) == os.getcwd() and os.path.basename(p) not in project_names:
            return True
        return None


collector = Collector()
code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider"] + args, plugins=[collector])
if code not in (0, 5):
    sys.exit(int(code))

root = os.getcwd()
for item in collector.items:
    path = str(getattr(item, "path", None) or item.fspath)
    rel = os.path.relpath(path, root)
    _, _, name = item.reportinfo()
    markers = []
    for m in item.iter_markers():
        if m.name not in markers:
            markers.append(m.name)
    nodeid = item.nodeid
    # The part of the node id after the file, so that the job can name the item by the file's
    # path relative to the project whatever pytest took as its rootdir.
    inner = nodeid.split("::", 1)[1] if "::" in nodeid else ""
    emit({"file": rel, "name": str(name), "node_id": nodeid, "inner": inner,
          "markers": markers, "skip": skip_reason(item)})
import base64, gzip
real_stdout.write(base64.b64encode(gzip.compress(out.getvalue().encode(), 6)))
real_stdout.close()
)PY";
}

// Prints the interpreter's record (one JSON line) and exits 97 when pytest
// cannot be imported, without importing it.
std::string_view python_probe_script() {
  return R"PY(
import importlib.util, json, os, sys
print(json.dumps({"python": {
    "executable": sys.executable,
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "stdlib": os.path.dirname(os.__file__),
    "path": [p for p in sys.path if p and p != os.getcwd()],
    "version": "%d.%d.%d" % sys.version_info[:3],
}}))
if importlib.util.find_spec("pytest") is None:
    sys.stderr.write("maelstrom-pytest: cannot import pytest with %s\n" % sys.executable)
    sys.exit(97)
)PY";
}

}  // namespace mael
