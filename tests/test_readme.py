"""The README's Python code blocks run as written (issue 14 item 8), so they cannot rot.

Each ```python block of README.md is executed in a fresh namespace, in the folder that holds
the 3D-IRCADb patient folders when a block reads them (``3Dircadb1.N/...``; skipped without
the data), else in a temporary folder. torch runs on one thread.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pytest

from conftest import REPO_ROOT, ircadb_root

README = REPO_ROOT / "README.md"
_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, code) of every ```python block."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_readme_has_the_snippets():
    codes = [c for _, c in BLOCKS]
    assert any("vt.analyze(" in c for c in codes)
    assert any("MultiTaskResUNet3d()" in c and "loss.backward()" in c for c in codes)
    assert python_blocks("a\n```python\nx = 1\n```\n```bash\nls\n```\n") == [(3, "x = 1\n")]


@pytest.mark.parametrize("line,code", BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_readme_block_runs(line, code, tmp_path, monkeypatch):
    cwd = tmp_path
    if "3Dircadb1." in code:
        root = ircadb_root()
        if not root.is_dir():
            pytest.skip(f"3D-IRCADb not found at {root} (set VESSELTREE_IRCADB)")
        cwd = root  # read only: the blocks write nothing
    threads = None
    if "torch" in code:
        torch = pytest.importorskip("torch")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    monkeypatch.chdir(cwd)
    before = set(os.listdir(cwd))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            exec(compile(code, f"{README}:{line}", "exec"), {"__name__": "__readme__"})
    finally:
        if threads is not None:
            torch.set_num_threads(threads)
    assert set(os.listdir(cwd)) == before or cwd == tmp_path  # the data folder untouched
    assert Path(cwd).exists()
