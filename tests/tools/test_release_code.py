"""tools/release_code.py, the evidence behind widened known-deviation ranges: a function's hash
changes with its code and not with its docstring or comments, a pattern is looked for in the
function's own source, and releases are grouped into runs of identical code."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("release_code", REPO / "tools" / "release_code.py")
release_code = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(release_code)

OLD = '''class Layer:
    def moments(self, x):
        """Old docstring."""
        return x.sum() / (len(x) + eps())  # divides by the count + eps

def other():
    return 1
'''
REWORDED = OLD.replace("Old docstring.", "New docstring.").replace("# divides", "# still divides")
FIXED = OLD.replace("(len(x) + eps())", "len(x)")


def _wheels(tmp_path: Path, sources: dict[str, str]) -> Path:
    for version, source in sources.items():
        with zipfile.ZipFile(tmp_path / f"pkg-{version}-py3-none-any.whl", "w") as zf:
            zf.writestr("pkg/mod.py", source)
    return tmp_path


def test_hash_follows_the_code_not_its_docstring_or_comments(tmp_path):
    folder = _wheels(tmp_path, {"1.0.0": OLD, "1.1.0": REWORDED, "1.10.0": FIXED})
    lines = release_code.table(folder, "pkg", ["pkg/mod.py:Layer.moments", "pkg/mod.py:other"])
    rows = {line.split()[0]: line.split()[1:] for line in lines[:-1]}
    assert list(rows) == ["1.0.0", "1.1.0", "1.10.0"]  # versions in release order, not text order
    assert rows["1.0.0"] == rows["1.1.0"] and rows["1.0.0"][0] != rows["1.10.0"][0]
    assert rows["1.0.0"][1] == rows["1.10.0"][1]  # the unchanged function keeps its hash
    assert lines[-1] == "identical runs: 1.0.0..1.1.0; 1.10.0"


def test_a_pattern_is_looked_for_in_the_function_and_a_missing_one_is_a_dash(tmp_path):
    folder = _wheels(tmp_path, {"1.0.0": OLD, "2.0.0": FIXED})
    lines = release_code.table(folder, "pkg", [r"pkg/mod.py:Layer.moments~\+ eps\(\)", "pkg/mod.py:Layer.gone",
                                               "pkg/other.py:f"])
    assert [line.split()[1:] for line in lines[:-1]] == [["+", "-", "-"], [".", "-", "-"]]
