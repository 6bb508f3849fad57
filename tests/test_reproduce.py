"""`make reproduce-smoke`: the whole reproduce pipeline (selection, training, evaluation, table, figures)
with tiny budgets, run through the Makefile with two jobs so that the real rules cannot rot."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinymeta.lab import protocol, report, reproduce, stats

ROOT = Path(__file__).parent.parent
KEYS = {"run", "algorithm", "train_shots", "shots", "steps", "inner_steps", "inner_lr", "mse_query", "ci_query",
        "median_query", "diverged", "tasks", "mse_grid", "ci_grid", "iterations", "seed", "command", "commit"}


def make_smoke(out):
    return subprocess.run(["make", "-j2", "--no-print-directory", "reproduce-smoke", f"SMOKE={out}",
                           f"PY={sys.executable}"], cwd=ROOT, capture_output=True, text=True)


def test_reproduce_smoke(tmp_path):
    out = tmp_path / "results"
    run = make_smoke(out)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    table = json.loads((out / "sinusoid.json").read_text())
    rows = table["rows"]
    assert all(KEYS <= set(r) for r in rows)
    cells = {(r["algorithm"], r["train_shots"], r["shots"], r["steps"]) for r in rows}
    for a in protocol.ALGORITHMS:
        for k in protocol.SHOTS:
            assert {(a, k, k, s) for s in protocol.REPORT_STEPS} <= cells, (a, k)
    assert {("maml", 10, 5, s) for s in protocol.REPORT_STEPS} <= cells  # Finn et al.'s Table 2 protocol
    assert {r["run"] for r in rows} == set(protocol.RUNS)
    for r in rows:  # every run is evaluated after 1, 5 and 10 steps on its own K, the K = 10 MAML runs 5-shot too
        assert {(r["run"], k, s) for k in protocol.RUNS[r["run"]]["tests"] for s in protocol.REPORT_STEPS} <= \
            {(q["run"], q["shots"], q["steps"]) for q in rows}
    five = [r for r in rows if r["run"].startswith("enhanced-5step")]
    assert five and all(r["inner_steps"] == 5 for r in five)
    config = json.loads((out / "runs" / "enhanced-5step-k10" / "config.json").read_text())
    assert config["cosine"] and config["msl_iterations"] == 1 and config["first_order_iterations"] in (0, 2)  # of 6
    assert json.loads((out / "runs" / "maml-finn-k10" / "config.json").read_text())["inner_lr"] == 0.001
    json.loads((out / "sinusoid.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert all(r["iterations"] == 6 and r["tasks"] == 8 and np.isfinite(r["mse_query"]) for r in rows)
    for name in ("reptile-k5", "enhanced-k10", "pretrain-k10", "maml-5step-k5", "enhanced-5step-k10"):  # chosen on validation tasks
        chosen = json.loads((out / "select" / f"{name}.json").read_text())
        assert chosen["chosen"] in [c["candidate"] for c in chosen["candidates"]] and "validation" in chosen["how"]
    gated = json.loads((out / "select" / "enhanced-5step-k5.json").read_text())  # its full run checked on validation tasks
    assert gated["chosen"] in [c["candidate"] for c in gated["full_runs"]]
    md = (out / "sinusoid.md").read_text()
    assert "| maml-k10 | 10 |" in md and "Park & Oliva 2019" in md and "| maml-finn-k10 |" in md
    assert (out / "sinusoid-steps.png").stat().st_size > 10000
    # each run kept its meta-parameters, and a figure if it meta-learns more than an initialisation
    assert all((out / "runs" / name / "meta.npz").exists() for name in protocol.RUNS)
    assert {p.stem for p in (out / "figures").glob("*.png")} == \
        {name for name in protocol.RUNS if protocol.RUNS[name]["algorithm"] in ("metasgd", "lslr", "metacurvature", "enhanced")}
    # iMAML and CAVIA beside MAML, task by task: the mean paired difference is the difference of the two means
    mean = {(r["run"], r["shots"], r["steps"]): r["mse_query"] for r in rows}
    assert json.loads((out / "runs" / "imaml-k10" / "config.json").read_text())["newton_cg"] == 3
    for name in ("imaml-k5", "imaml-k10", "cavia-k5", "cavia-k10"):
        k = protocol.RUNS[name]["shots"]
        line = next(line for line in md.splitlines() if line.startswith(f"| {name} − maml-k{k} |"))
        assert line.split(" | ")[2].split(" ± ")[0] == stats.number(mean[(name, k, 1)] - mean[(f"maml-k{k}", k, 1)])

    # a second `make reproduce` finds every result and only rebuilds the table, bit for bit, and its figures,
    # drawn anew though they exist
    before, drawn = (out / "sinusoid.json").read_bytes(), (out / "sinusoid-steps.png").read_bytes()
    for figure in ("sinusoid-steps.png", "sinusoid-examples.png"):
        (out / figure).write_bytes(b"stale")
    again = make_smoke(out)
    assert again.returncode == 0 and " run " not in again.stdout, again.stdout
    assert (out / "sinusoid.json").read_bytes() == before
    assert (out / "sinusoid-steps.png").read_bytes() == drawn
    assert (out / "sinusoid-examples.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("algorithm", ["lslr", "maml"])
def test_a_run_keeps_its_meta_parameters_and_draws_its_figure_anew(tmp_path, algorithm):
    """reproduce.keep: meta.npz holds the checkpoint's meta-parameters bit for bit; a run that learns rates
    gets its figure, replacing an old one, and a run that learns only an initialisation gets none."""
    from tinymeta.lab import checkpoint, train
    run_dir, figure = tmp_path / "run", tmp_path / "figures" / "run.png"
    train.start(run_dir, train.make_config(algorithm, shots=5, iterations=2, meta_batch=2, hidden=[8]))
    train.run(run_dir, 2, quiet=True)
    config, state, entry = train.load(run_dir)
    figure.parent.mkdir()
    figure.write_bytes(b"stale")
    reproduce.keep(run_dir, figure, config, state, entry)
    saved_config, meta = checkpoint.load_meta(run_dir)
    assert saved_config == config
    expected = checkpoint.leaves(state["meta"], "meta")
    got = checkpoint.leaves(meta, "meta")
    assert got.keys() == expected.keys() and all(np.array_equal(got[k], expected[k]) for k in expected)
    assert figure.read_bytes().startswith(b"\x89PNG") == (algorithm == "lslr")


def test_unknown_run_is_one_line():
    run = subprocess.run([sys.executable, "-m", "tinymeta.lab.reproduce", "run", "nosuch-k5", "--results", "/nonexistent"],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "unknown run 'nosuch-k5'" in run.stderr and "Traceback" not in run.stderr


def test_the_results_readme_shows_the_committed_table():
    """results/README.md's tables are report.published_lines of the committed results, not numbers typed in."""
    rows = json.loads((ROOT / "results" / "sinusoid.json").read_text())["rows"]
    runs = report.load(ROOT / "results")
    assert report.table_rows(runs) == rows   # the committed table is the committed runs'
    for block in ("\n".join(report.published_lines(rows)), "\n".join(report.multi_step_lines(rows, runs))):
        assert block in (ROOT / "results" / "README.md").read_text(), \
            "results/README.md's table differs from results/sinusoid.json:\n" + block
        assert block in (ROOT / "results" / "sinusoid.md").read_text()


def test_the_committed_tables_are_what_the_table_command_makes_of_the_committed_runs():
    """results/sinusoid.json and sinusoid.md, every cell, the paired differences (recomputed from the runs'
    meta.npz), the diverged counts, the commands and the time from first start to last finish, as report makes
    them from results/runs; only the commit of the code that made the table is taken as committed."""
    results = ROOT / "results"
    committed = json.loads((results / "sinusoid.json").read_text())
    table, text = report.tables(results, report.load(results), True, committed["protocol"]["table_commit"])
    assert table == committed
    assert text == (results / "sinusoid.md").read_text()


def test_the_recorded_train_command_makes_the_configuration_reproduce_trains():
    """result.json records a `python -m tinymeta train` command; reproduce trains through train.start
    directly, so the command must parse to the very configuration it used."""
    from tinymeta.lab import cli, train
    settings = reproduce.train_settings(protocol.RUNS["enhanced-5step-k5"], 70000, [40, 40],
                                        {"inner_lr": 0.003, "first_order_iterations": 1 / 3, "clip": 10.0})
    assert settings["cosine"] is True and settings["msl_iterations"] == 7000 and settings["first_order_iterations"] == 23333
    assert settings["clip"] == 10.0 and settings["inner_lr"] == 0.003
    command = reproduce.train_command("enhanced", settings, "results/runs/enhanced-k5")
    args = cli.parser().parse_args(command[3:])
    given = {k: v for k, v in vars(args).items()
             if v is not None and k not in ("command", "algorithm", "out", "resume", "quiet")}
    assert train.make_config(args.algorithm, **given) == train.make_config("enhanced", **settings)
    assert args.out == "results/runs/enhanced-k5" and args.quiet


def test_the_makefile_runs_every_run_of_the_protocol():
    made = subprocess.run(["make", "--no-print-directory", "-f", "-", "show"], cwd=ROOT, capture_output=True, text=True,
                          input="include Makefile\nshow:\n\t@echo $(REPRO_NAMES)\n").stdout.split()
    assert sorted(made) == sorted(protocol.RUNS) and len(made) == len(set(made)), made



def test_the_steps_figure_puts_each_run_in_its_row_and_a_diverged_mean_off_the_top(tmp_path):
    """One curve per run and tested K: in the top row the runs trained as in the papers, below the five-step and
    "-finn" runs; a mean that is not finite (None) or huge is drawn at 1e3, off the top of the axes."""
    import copy

    from tinymeta.lab import figures
    runs = copy.deepcopy(report.load(ROOT / "results"))
    records = runs[0]["evaluations"][str(runs[0]["shots"])]
    records[3]["mse_query"], records[4]["mse_query"] = None, 1e6
    fig = figures.steps(runs, tmp_path / "steps.png")
    for col, k in enumerate(protocol.SHOTS):
        for row in (0, 1):
            drawn = [r for r in runs if str(k) in r["evaluations"] and row == ("-5step" in r["name"] or "-finn" in r["name"])]
            lines = fig.axes[row * len(protocol.SHOTS) + col].get_lines()
            assert [line.get_label() for line in lines] == [r["name"] for r in drawn]
            for line, r in zip(lines, drawn):
                expected = [1e3 if x["mse_query"] is None else min(x["mse_query"], 1e3) for x in r["evaluations"][str(k)]]
                assert list(line.get_ydata()) == expected and line.get_linestyle() == ("-" if r["shots"] == k else "--")
    assert (tmp_path / "steps.png").read_bytes().startswith(b"\x89PNG")


def tiny_enhanced(tmp_path, inner_lr):
    """A 2-iteration Enhanced run (hidden 8) in tmp_path/run: (meta, algorithm, config). At inner lr 0.03 its training
    stays finite but some validation tasks diverge from step 2 on; at 0.001 none does in 10 steps."""
    spec = protocol.RUNS["enhanced-5step-k5"]
    settings = reproduce.train_settings(spec, 2, [8], dict(inner_lr=inner_lr, first_order_iterations=0, msl_iterations=1))
    assert reproduce.execute("enhanced", settings, str(tmp_path / "run"))
    config, state, entry = reproduce.train.load(str(tmp_path / "run"))
    return state["meta"], entry, config


def test_a_stable_score_is_nan_if_a_validation_task_diverges_after_any_step(tmp_path):
    meta, entry, config = tiny_enhanced(tmp_path, 0.03)
    assert np.isfinite(reproduce.validation_score(meta, entry, config, 5, (1,)))  # no task diverged after 1 step
    assert np.isnan(reproduce.validation_score(meta, entry, config, 5, (1,), stable=10))


def test_gate_trains_candidates_in_full_best_first_and_keeps_the_first_with_no_divergence(tmp_path):
    spec = dict(protocol.RUNS["enhanced-5step-k5"], stable=10)
    candidates = [dict(inner_lr=lr, first_order_iterations=0, msl_iterations=1) for lr in (0.001, 0.03, 0.003)]
    (tmp_path / "select").mkdir()
    reproduce.write_json(str(tmp_path / "select" / "x.json"), dict(chosen=candidates[1], how="", candidates=[
        dict(candidate=c, score=s) for c, s in zip(candidates, (2.0, 1.0, None))]))
    chosen = reproduce.gate("x", spec, str(tmp_path), 2, [8], str(tmp_path / "runs" / "x"))
    record = json.loads((tmp_path / "select" / "x.json").read_text())
    assert chosen == record["chosen"] == candidates[0]  # the best score (lr 0.03) diverged in its full run
    assert [c["index"] for c in record["full_runs"]] == [1, 0] and [c["passed"] for c in record["full_runs"]] == [False, True]
    assert record["full_runs"][0]["validation"][10]["diverged"] > 0 and "0..10 steps" in record["how"]
    assert reproduce.train.load(str(tmp_path / "runs" / "x"))[0]["inner_lr"] == 0.001  # the full run kept
    assert not (tmp_path / "select" / "x" / "full-2").exists()  # a candidate with no score is not trained
    assert reproduce.gate("x", spec, str(tmp_path), 2, [8], str(tmp_path / "runs" / "x")) == chosen  # again: the record
    assert json.loads((tmp_path / "select" / "x.json").read_text())["full_runs"] == record["full_runs"]  # nothing redone
