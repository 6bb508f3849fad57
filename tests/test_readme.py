"""The README is a front door: short, its MAML loop runs as written and learns, it shows what that loop
prints, and its results are the committed results."""
import json
import re
import subprocess
import sys
from pathlib import Path

from tinymeta.lab import protocol

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
PRINTED = re.compile(r"^ *(predicting 0|after +(\d+) steps): +([0-9.]+)$", re.M)


def the_loop():
    [code] = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
    return code


def printed_numbers(text):
    """{'zero': e, 0: e, 1: e, ...}: the errors in lines like 'predicting 0: 4.30' and 'after  1 steps: 1.75'."""
    return {("zero" if steps == "" else int(steps)): float(value) for _, steps, value in PRINTED.findall(text)}


def test_the_readme_is_short_and_its_loop_is_twenty_lines_at_most():
    assert len(README.splitlines()) <= 150
    assert len(the_loop().strip().splitlines()) <= 20


def test_the_readme_loop_learns_and_prints_what_the_readme_shows(tmp_path):
    run = subprocess.run([sys.executable, "-c", the_loop()], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    printed = printed_numbers(run.stdout)
    after_the_code = README[README.index("```", README.index("```python") + 3):]
    shown = printed_numbers(after_the_code[:after_the_code.index("\n## ")])
    assert set(printed) == set(shown) == {"zero", 0, 1, 10}, (run.stdout, shown)
    assert all(abs(printed[k] - shown[k]) <= 0.02 for k in shown), f"README shows {shown}, the loop printed {printed}"
    # it learned to adapt: one step on 10 points nearly halves the error, ten cut it by almost two thirds,
    # below 3.01, the error of the best single curve for all tasks (tutorial 01)
    assert printed[0] < printed["zero"] and printed[1] < 0.6 * printed[0] and printed[10] < 0.4 * printed[0]
    assert printed[10] < 3.01
    assert not any(tmp_path.iterdir()), "the README's loop writes no files"


def test_tutorial_03_trains_with_the_readme_loop():
    """Tutorial 03 ends with the README's loop (plus a look at held-out tasks), so the README's figure, which
    tutorials/figures.py draws from the README's loop, is also the network tutorial 03 trains."""
    loop = the_loop()
    training = loop[loop.index("rng = "):loop.index("\n", loop.index("params, state = adam"))]
    assert training in (ROOT / "tutorials" / "03-maml.md").read_text()


def glance_table():
    """{run: (cell after 1 step, cell after 5 steps)} of the README's "Results at a glance"."""
    section = README[README.index("## Results at a glance"):]
    section = section[:section.index("\n## ", 3)]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]
    return {c[0]: (c[2], c[3]) for c in cells[1:]}


def cell(row):
    if row["diverged"]:
        return f"diverged on {row['diverged']} of {row['tasks']:,}"
    return f"{row['mse_query']:.3g}"


def test_the_readme_results_are_the_committed_results():
    rows = json.loads((ROOT / "results" / "sinusoid.json").read_text())["rows"]
    table = glance_table()
    assert len(table) >= 5
    for run, shown in table.items():
        committed = {r["steps"]: r for r in rows if r["run"] == run and r["shots"] == 10}
        assert (cell(committed[1]), cell(committed[5])) == shown, run
    # the sentences: the held cells met or missed by at most 0.022; first-order MAML never diverges, exact MAML does
    ours = {(r["run"], r["shots"], r["steps"]): r["mse_query"] for r in rows}
    short = [ours[run, shots, steps] - mean for run, shots, steps, mean, ci, source, held in protocol.PUBLISHED if held]
    assert round(max(short), 3) == 0.022
    runs = {name: json.loads((ROOT / "results" / "runs" / name / "result.json").read_text()) for name in
            ("fomaml-k5", "fomaml-k10", "maml-k5")}
    assert all(e["diverged"] == 0 for name in ("fomaml-k5", "fomaml-k10") for e in runs[name]["evaluations"][str(runs[name]["shots"])])
    assert any(e["diverged"] for e in runs["maml-k5"]["evaluations"]["5"])
    # ... and the pretrained network is far behind every meta-learner after one step
    for k in (5, 10):
        one_step = {r["run"]: r["mse_query"] for r in rows if r["shots"] == r["train_shots"] == k and r["steps"] == 1}
        pretrained = [m for run, m in one_step.items() if run.startswith("pretrain")]
        assert min(pretrained) > 2 * max(m for run, m in one_step.items() if not run.startswith("pretrain"))
