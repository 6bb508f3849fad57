"""Execute every ```python block of every tutorial, in order, one fresh interpreter per tutorial.

The blocks run in an empty temporary folder (so they work from any directory) and must leave it
empty (tutorials write no files). A failure names the tutorial, the block and its line.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).parent.parent / "tutorials").glob("[0-9]*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

DRIVER = r'''
import json, sys, traceback
name, blocks = json.load(sys.stdin)
namespace = {"__name__": "__main__"}
for number, (line, code) in enumerate(blocks, 1):
    where = f"{name}, block {number} (line {line})"
    try:
        exec(compile(code, where, "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"FAILED: {where}", file=sys.stderr)
        sys.exit(1)
'''


def blocks(path):
    text = path.read_text()
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in BLOCK.finditer(text)]


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    code = blocks(path)
    assert code, f"{path.name} has no python blocks"
    assert any("assert" in c for _, c in code), f"{path.name} checks nothing"
    env = dict(os.environ, MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps([path.name, code]), cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    failed = [line for line in run.stderr.splitlines() if line.startswith("FAILED:")]
    assert run.returncode == 0, (failed[-1] if failed else f"{path.name} exited {run.returncode}") + "\n" + run.stderr[-3000:]
    assert not any(tmp_path.iterdir()), f"{path.name} wrote files: {sorted(p.name for p in tmp_path.iterdir())}"
