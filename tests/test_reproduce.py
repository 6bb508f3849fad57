"""`make reproduce-smoke`: the whole reproduce pipeline (selection, training, evaluation, table, figures)
with tiny budgets, run through the Makefile with two jobs so that the real rules cannot rot."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinymeta import maml, mlp, omniglot
from tinymeta.lab import checkpoint, omniglot_report, protocol, report, reproduce, stats

ROOT = Path(__file__).parent.parent
KEYS = {"run", "algorithm", "train_shots", "shots", "steps", "inner_steps", "inner_lr", "mse_query", "ci_query",
        "median_query", "diverged", "tasks", "mse_grid", "ci_grid", "iterations", "seed", "command", "commit"}
SINUSOID = {name for name, spec in protocol.RUNS.items() if not reproduce.classifies(spec)}
SMOKE_OMNIGLOT = {"omniglot-reptile-5w1s", "omniglot-maml-20w1s-small1", protocol.NEAREST}  # the Makefile's REPRO_SMOKE


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
    assert {r["run"] for r in rows} == SINUSOID
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
    assert all((out / "runs" / name / "meta.npz").exists() for name in SINUSOID | SMOKE_OMNIGLOT - {protocol.NEAREST})
    assert {p.stem for p in (out / "figures").glob("*.png")} == \
        {name for name in SINUSOID if protocol.RUNS[name]["algorithm"] in ("metasgd", "lslr", "metacurvature", "enhanced")}
    # iMAML and CAVIA beside each MAML run tested on their K, task by task: the mean paired difference is the
    # difference of the two means (no task diverged in these tiny runs), and the markdown shows it
    mean = {(r["run"], r["shots"], r["steps"]): r["mse_query"] for r in rows}
    assert json.loads((out / "runs" / "imaml-k10" / "config.json").read_text())["newton_cg"] == 3
    pairs = {(p["run"], p["against"], p["shots"]): p["cells"] for p in table["paired"]}
    assert set(pairs) == {(f"{a}-k{k}", against, k) for a in ("imaml", "cavia") for k in protocol.SHOTS
                          for against in (f"maml-k{k}", f"maml-5step-k{k}", "maml-finn-k10")}
    for (name, against, k), cells in pairs.items():
        for s, c in zip(protocol.REPORT_STEPS, cells):
            assert abs(c["mean"] - (mean[(name, k, s)] - mean[(against, k, s)])) < 1e-9 and c["left_out"] == 0
        line = next(line for line in md.splitlines() if line.startswith(f"| {name} − {against} | {k} |"))
        assert line.split(" | ")[2] == stats.mean_ci(cells[0]["mean"], cells[0]["ci"])

    check_omniglot_smoke(out)

    # a second `make reproduce` finds every result and only rebuilds the table, bit for bit, and its figures,
    # drawn anew though they exist
    before, drawn = (out / "sinusoid.json").read_bytes(), (out / "sinusoid-steps.png").read_bytes()
    omniglot_before = (out / "omniglot.json").read_bytes()
    for figure in ("sinusoid-steps.png", "sinusoid-examples.png", "figures/lslr-k5.png"):
        (out / figure).write_bytes(b"stale")
    again = make_smoke(out)
    assert again.returncode == 0 and " run " not in again.stdout, again.stdout
    assert (out / "sinusoid.json").read_bytes() == before and (out / "omniglot.json").read_bytes() == omniglot_before
    assert (out / "sinusoid-steps.png").read_bytes() == drawn
    for figure in ("sinusoid-examples.png", "figures/lslr-k5.png"):
        assert (out / figure).read_bytes().startswith(b"\x89PNG")


def check_omniglot_smoke(out):
    """The classification runs of the smoke: a row at every reported step count of each, Reptile's rate chosen by the
    highest validation accuracy, the 20-way run on its background set scored on Lake's runs as a loop written here
    scores them, the baseline beside them, and the tables made of the rows."""
    table = json.loads((out / "omniglot.json").read_text())
    tested = {(r["run"], r["shots"], r["steps"]) for r in table if "accuracy" in r}
    assert {("omniglot-reptile-5w1s", 1, s) for s in protocol.OMNIGLOT_STEPS} <= tested
    assert {(protocol.NEAREST, k, 0) for k in (1, 5)} <= tested
    assert all(set(r) == {"run", "algorithm", "ways", "shots", "steps", "accuracy", "ci", "tasks"} and r["tasks"] == 8
               and 0 <= r["accuracy"] <= 1 for r in table if "accuracy" in r)
    lake = {(r["run"], r["steps"]): r for r in table if "error" in r}
    assert set(lake) == {("omniglot-maml-20w1s-small1", s) for s in protocol.OMNIGLOT_STEPS} | {(protocol.NEAREST, 0)}
    assert all(set(r) == {"run", "algorithm", "background", "steps", "error", "trials"} and r["trials"] == 400
               for r in lake.values())
    assert lake["omniglot-maml-20w1s-small1", 0]["background"] == "small1"
    config = json.loads((out / "runs" / "omniglot-maml-20w1s-small1" / "config.json").read_text())
    assert (config["background"], config["ways"], config["inner_lr"], config["inner_steps"], config["meta_batch"]) == \
        ("small1", 20, 0.1, 5, 16)
    _, meta = checkpoint.load_meta(out / "runs" / "omniglot-maml-20w1s-small1")
    tasks = omniglot.lake_tasks(omniglot.lake_runs())
    for s in (1, 3):
        fast = maml.adapt(meta["params"], tasks.x_support, tasks.y_support, mlp.cross_entropy, config["inner_lr"], s)
        wrong = np.sum(np.argmax(mlp.predict(fast, tasks.x_query), -1) != omniglot.lake_runs().answers)
        assert lake["omniglot-maml-20w1s-small1", s]["error"] == wrong / 400
    chosen = json.loads((out / "select" / "omniglot-reptile-5w1s.json").read_text())
    best = max(chosen["candidates"], key=lambda c: c["score"])
    assert chosen["chosen"] == best["candidate"] and "highest mean" in chosen["how"] and "accuracy" in chosen["how"]
    result = json.loads((out / "runs" / "omniglot-reptile-5w1s" / "result.json").read_text())
    assert result["config"]["inner_lr"] == best["candidate"]["inner_lr"] and "--problem=omniglot" in result["command"]
    assert omniglot_report.rows(report.load(out, "omniglot")) == table
    assert (out / "omniglot.md").read_text() == omniglot_report.markdown(table)
    assert "**other data**" in (out / "omniglot.md").read_text() and "| omniglot-reptile-5w1s | 5-way 1-shot |" in \
        (out / "omniglot.md").read_text()


def test_a_run_keeps_its_meta_parameters_bit_for_bit(tmp_path):
    """meta.npz, what results/ commits of a run besides its records, holds the checkpoint's meta-parameters bit for
    bit and the configuration; every figure of results/ is drawn from it (tests/test_figures.py)."""
    from tinymeta.lab import checkpoint, train
    run_dir = tmp_path / "run"
    train.start(run_dir, train.make_config("lslr", shots=5, iterations=2, meta_batch=2, hidden=[8]))
    train.run(run_dir, 2, quiet=True)
    config, state, _ = train.load(run_dir)
    checkpoint.save_meta(run_dir, state["meta"])
    saved_config, meta = checkpoint.load_meta(run_dir)
    assert saved_config == config
    expected = checkpoint.leaves(state["meta"], "meta")
    got = checkpoint.leaves(meta, "meta")
    assert got.keys() == expected.keys() and all(np.array_equal(got[k], expected[k]) for k in expected)


def test_unknown_run_is_one_line():
    run = subprocess.run([sys.executable, "-m", "tinymeta.lab.reproduce", "run", "nosuch-k5", "--results", "/nonexistent"],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "unknown run 'nosuch-k5'" in run.stderr and "Traceback" not in run.stderr


def test_the_committed_tables_are_the_committed_runs():
    """results/sinusoid.json's rows are the committed runs' records; sinusoid.md and the tables of
    results/README.md are what report.py writes from them, not numbers typed in."""
    table = json.loads((ROOT / "results" / "sinusoid.json").read_text())
    runs = report.load(ROOT / "results")
    assert report.table_rows(runs) == table["rows"]
    shown = [f for f in ("sinusoid-steps.png", "sinusoid-examples.png") if (ROOT / "results" / f).exists()]
    assert (ROOT / "results" / "sinusoid.md").read_text() == report.markdown(table, runs, shown), \
        "results/sinusoid.md is not what report.markdown writes: python -m tinymeta.lab.reproduce table"
    readme = (ROOT / "results" / "README.md").read_text()
    assert set(report.REGION.findall(readme)) >= {(f"<!-- report: {name} -->\n", name, "<!-- /report -->")
                                                   for name in report.regions(table)}
    omniglot_rows = json.loads((ROOT / "results" / "omniglot.json").read_text())
    assert omniglot_report.rows(report.load(ROOT / "results", "omniglot")) == omniglot_rows
    assert (ROOT / "results" / "omniglot.md").read_text() == omniglot_report.markdown(omniglot_rows), \
        "results/omniglot.md is not what omniglot_report.markdown writes: python -m tinymeta.lab.reproduce table"
    assert readme == report.fill(readme, table, omniglot_rows), \
        "results/README.md's tables are not what report.py writes: python -m tinymeta.lab.reproduce table"


def test_a_committed_paired_difference_is_what_the_runs_give_again():
    """One row of the paired table (CAVIA beside MAML trained with five steps, 10-shot), from the runs' meta.npz."""
    table = json.loads((ROOT / "results" / "sinusoid.json").read_text())
    (committed,) = [p["cells"] for p in table["paired"] if (p["run"], p["against"]) == ("cavia-k10", "maml-5step-k10")]
    errors = [stats.per_task_errors(ROOT / "results" / "runs" / name, 10, (0, *protocol.REPORT_STEPS), 1000)
              for name in ("cavia-k10", "maml-5step-k10")]
    again = stats.paired_row(*errors)
    assert [c["left_out"] for c in again] == [c["left_out"] for c in committed]
    assert np.allclose([[c["mean"], c["ci"]] for c in again], [[c["mean"], c["ci"]] for c in committed], rtol=1e-9, atol=0)


def test_the_committed_tables_are_what_the_table_command_makes_of_the_committed_runs():
    """results/sinusoid.json and sinusoid.md, every cell, the paired differences (recomputed from the runs'
    meta.npz), the diverged counts, the commands and the time from first start to last finish, as report makes
    them from results/runs; only the commit of the code that made the table is taken as committed."""
    results = ROOT / "results"
    committed = json.loads((results / "sinusoid.json").read_text())
    from tinymeta.lab import figures
    runs = report.load(results)
    table, text = report.tables(results, runs, sorted(figures.every(str(results), runs)), committed["protocol"]["table_commit"])
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


def test_the_recorded_train_command_of_a_classification_run_makes_its_configuration():
    """A 20-way run on a background set: Finn et al.'s 20-way settings, and the command records them all."""
    from tinymeta.lab import cli, train
    spec = protocol.RUNS["omniglot-anil-20w1s-both"]
    settings = reproduce.train_settings(spec, spec["iterations"], train.OMNIGLOT["hidden"], {})
    command = reproduce.train_command("anil", settings, "results/runs/omniglot-anil-20w1s-both")
    args = cli.parser().parse_args(command[3:])
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("command", "algorithm", "out", "resume", "quiet")}
    config = train.make_config(args.algorithm, **given)
    assert config == train.make_config("anil", **settings)
    assert (config["background"], config["ways"], config["shots"], config["inner_lr"], config["inner_steps"],
            config["meta_batch"], config["iterations"], config["hidden"]) == \
        ("both", 20, 1, 0.1, 5, 16, protocol.OMNIGLOT_ITERATIONS, [256, 128, 64, 64])


def test_the_classification_runs_are_finn_et_al_s_and_choose_only_on_validation_characters():
    runs = {name: spec for name, spec in protocol.RUNS.items() if reproduce.classifies(spec)}
    five = {f"omniglot-{a}-5w{k}s" for a in protocol.CLASSIFIERS for k in (1, 5)}
    twenty = {f"omniglot-{a}-20w1s-{b}" for a in ("maml", "anil") for b in ("small1", "small2", "both")}
    assert set(runs) == five | twenty | {protocol.NEAREST}
    for name in five:
        spec, config = runs[name], reproduce.train.make_config(runs[name]["algorithm"], **runs[name]["settings"],
                                                               shots=runs[name]["shots"])
        assert (config["ways"], config["meta_batch"], config["inner_lr"], config["inner_steps"], config["rotate"]) == \
            (5, 32, 2.0, 1, True) and config["queries"] == spec["shots"] and "background" not in config
        assert spec["tests"] == (spec["shots"],) and not spec["lake"] and spec["iterations"] == protocol.OMNIGLOT_ITERATIONS
        assert config["with_validation"]  # settings chosen on trials that never saw the validation characters:
        assert "with_validation" not in reproduce.held_out(reproduce.train_settings(spec, 5, [4], {}))
    for name in twenty:
        spec = runs[name]
        assert spec["settings"]["background"] in protocol.BACKGROUNDS and spec["tests"] == () and spec["lake"]
        assert not spec["select"]  # a background run holds out no validation characters to choose on
    chosen = {spec["algorithm"]: spec["select"] for spec in runs.values() if spec["select"] and spec["select"][0] != "iterations"}
    assert chosen == protocol.OMNIGLOT_CANDIDATES
    how_long = {name for name, spec in runs.items() if spec["select"] and spec["select"][0] == "iterations"}
    assert how_long == {"omniglot-maml-5w5s"}  # the one run whose length is chosen (protocol.py says why)


def test_an_iterations_selection_scores_one_trial_after_each_count_and_the_run_trains_that_long(tmp_path, monkeypatch):
    """select_iterations: one trial without the validation characters, resumed from count to count and scored on
    validation tasks after each; the choice is recorded, read back without training again, and is the run's length."""
    from tinymeta.lab import train
    spec = dict(protocol.RUNS["omniglot-maml-5w5s"], select=("iterations", [dict(iterations=1), dict(iterations=2)]))
    spec["settings"] = dict(spec["settings"], meta_batch=2)
    monkeypatch.setattr(reproduce, "VALIDATION_TASKS", 20)
    chosen = reproduce.select_iterations("x", spec, str(tmp_path), [4])
    record = json.loads((tmp_path / "select" / "x.json").read_text())
    config, state, entry = train.load(tmp_path / "select" / "x" / "trial")
    assert "with_validation" not in config and state["iteration"] == 2
    assert record["candidates"][1]["score"] == reproduce.validation_score(state["meta"], entry, config, 5, spec["score_steps"])
    assert chosen == max(record["candidates"], key=lambda c: c["score"])["candidate"] == record["chosen"]
    monkeypatch.setattr(reproduce, "execute", lambda *a: pytest.fail("trained again"))
    assert reproduce.select_iterations("x", spec, str(tmp_path), [4]) == chosen
    assert reproduce.train_settings(spec, 16000, [4], dict(iterations=16000))["iterations"] == 16000


def test_choose_keeps_the_highest_accuracy_and_the_lowest_mse(tmp_path):
    scored = [({"inner_lr": 0.1}, 0.6), ({"inner_lr": 0.4}, 0.9), ({"inner_lr": 1.0}, float("nan"))]
    assert reproduce.choose(scored, str(tmp_path / "a.json"), (1, 3), higher=True) == {"inner_lr": 0.4}
    assert reproduce.choose(scored, str(tmp_path / "m.json"), (1, 3)) == {"inner_lr": 0.1}
    record = json.loads((tmp_path / "a.json").read_text())
    assert [c["score"] for c in record["candidates"]] == [0.6, 0.9, None] and "highest" in record["how"]


def fake_run(name, records, lake=None, background=None):
    config = dict(problem="omniglot", ways=20 if lake and name != protocol.NEAREST else 5,
                  **({"background": background} if background else {}))
    return dict(name=name, algorithm=protocol.RUNS[name]["algorithm"], config=config, evaluations=records, lake=lake)


def test_omniglot_rows_have_every_reported_step_and_lake_s_error_as_recorded():
    steps = range(11)
    tested = {"1": [dict(steps=s, accuracy=0.5 + s / 100, ci_accuracy=0.01, loss=1.0, ci_loss=0.1, tasks=1000) for s in steps]}
    lake = [dict(steps=s, error=(100 - s) / 400, wrong=100 - s, trials=400) for s in steps]
    runs = [fake_run("omniglot-maml-5w1s", tested), fake_run("omniglot-maml-20w1s-small2", {}, lake, "small2"),
            fake_run(protocol.NEAREST, {"1": dict(accuracy=0.4, ci_accuracy=0.02, tasks=1000)},
                     [dict(steps=0, error=0.75, wrong=300, trials=400)])]
    table = omniglot_report.rows(runs)
    assert [r["steps"] for r in table if r["run"] == "omniglot-maml-5w1s"] == list(protocol.OMNIGLOT_STEPS)
    assert [r["error"] for r in table if r["run"] == "omniglot-maml-20w1s-small2"] == \
        [(100 - s) / 400 for s in protocol.OMNIGLOT_STEPS]
    assert {r["background"] for r in table if "error" in r} == {"small2", None}
    assert [r for r in table if r["run"] == protocol.NEAREST] == [
        dict(run=protocol.NEAREST, algorithm="nearest", ways=5, shots=1, steps=0, accuracy=0.4, ci=0.02, tasks=1000),
        dict(run=protocol.NEAREST, algorithm="nearest", background=None, steps=0, error=0.75, trials=400)]
    glance = "\n".join(omniglot_report.glance_lines(table))
    assert "| MAML | 51.0 ± 1.0% | 53.0 ± 1.0% |" in glance and "| MAML |  | 23.75% |  |" in glance
    assert "| nearest neighbour in pixel space | 40.0 ± 2.0% | 40.0 ± 2.0% |" in glance and "75% error" in glance
    assert omniglot_report.summary(table) == ["MAML: 1-shot 51.0 ± 1.0% after 1 step, 1-shot 53.0 ± 1.0% after 3 steps",
                                              "MAML on Lake's runs: small2 23.75% error",
                                              "nearest neighbour: 1-shot 40.0 ± 2.0%, Lake's runs 75% error"]
    assert omniglot_report.summary([]) == [] and len(omniglot_report.summary(table * 2)) == 3
    text = omniglot_report.markdown(table)
    assert "| MAML | 1 | 89.7% ± 1.1% |" in text and "53.0 ± 1.0% (`omniglot-maml-5w1s`)" in text
    assert "| Bayesian program learning (BPL) | small2 | 4.0% |" in text and "| small2 | 23.75% | tinymeta | **same data** |" in text


def test_a_classification_candidate_is_scored_by_accuracy_on_the_validation_characters(tmp_path, monkeypatch):
    from tinymeta.lab import evaluate, families, train
    drawn, sample = [], families.sample
    monkeypatch.setattr(families, "sample", lambda rng, config, n, part, *a: drawn.append(part) or sample(rng, config, n, part, *a))
    train.start(tmp_path / "r", train.make_config("maml", problem="omniglot", hidden=[4], meta_batch=2, iterations=1))
    config, state, entry = train.load(tmp_path / "r")
    score = reproduce.validation_score(state["meta"], entry, config, 1, (1, 3))
    assert set(drawn) == {"validation"}
    records = evaluate.evaluate(state["meta"], entry, config, train.validation_stream(protocol.SEED), 1, 3,
                                protocol.VALIDATION_TASKS, part="validation")
    assert score == (records[1]["accuracy"] + records[3]["accuracy"]) / 2


def test_an_adapt_selection_of_a_run_with_validation_scores_on_a_trial_that_never_saw_them(tmp_path, monkeypatch):
    """pretrain chooses its fine-tuning rate on validation characters: with a model trained without them."""
    from tinymeta.lab import train
    spec = protocol.RUNS["omniglot-pretrain-5w1s"]
    settings = reproduce.train_settings(spec, 3, [4], {})
    assert settings["with_validation"]
    config, state = reproduce.trial_for_adapting("omniglot-pretrain-5w1s", spec, str(tmp_path), 2,
                                                 [4], dict(settings, meta_batch=2))
    assert "with_validation" not in config and state["iteration"] == 2
    assert (tmp_path / "select" / "omniglot-pretrain-5w1s" / "trial" / "checkpoint.npz").exists()
    assert reproduce.trial_for_adapting("x", spec, str(tmp_path), 2, [4], reproduce.held_out(settings)) is None


def test_candidates_of_a_run_with_validation_train_without_the_validation_characters(tmp_path, monkeypatch):
    trained = []
    monkeypatch.setattr(reproduce, "execute", lambda algorithm, settings, run_dir: trained.append(settings) and False)
    spec = protocol.RUNS["omniglot-reptile-5w1s"]
    reproduce.select("omniglot-reptile-5w1s", spec, str(tmp_path), 2, [4])
    assert len(trained) == len(spec["select"][1]) and not any("with_validation" in s for s in trained)
