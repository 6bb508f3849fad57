"""python -m tinymeta: parsing, every bad input, checkpoints, resume, Ctrl-C, divergence, evaluate, plot.

Runs use a tiny network (--hidden 8) and few tasks so the whole file stays fast.
"""
import io
import json
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from autograd import grad
from autograd.misc import flatten as autograd_flatten

from tinymeta import maml, mlp, reptile, sinusoid
from tinymeta.lab import checkpoint, cli, optim, registry, train
from tinymeta.lab.evaluate import evaluate, median
from tinymeta.lab.progress import Progress

TINY = ["--hidden", "8", "--meta-batch", "4", "--shots", "5", "--quiet"]


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of `python -m tinymeta *argv`, in this process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def npz(run_dir):
    with np.load(os.path.join(run_dir, "checkpoint.npz")) as f:
        return {k: f[k] for k in f.files}


def assert_same_checkpoint(a, b):
    a, b = npz(a), npz(b)
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


@pytest.fixture
def tiny_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", "maml", *TINY, "--iterations", 30, "--out", out)[0] == 0
    return out


@pytest.mark.parametrize("command", ["train", "evaluate", "plot", "demo"])
def test_help(capsys, command):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0 and "usage: tinymeta " + command in out


def test_train_writes_config_and_checkpoint(tiny_run):
    config = json.loads((tiny_run / "config.json").read_text())
    assert config == dict(train.DEFAULTS, algorithm="maml", hidden=[8], meta_batch=4, shots=5, iterations=30,
                          first_order_iterations=0)
    arrays = npz(tiny_run)
    assert int(arrays["iteration"]) == 30 and arrays["history"].shape == (30,)
    assert [arrays[f"meta/params/{i}"].shape for i in range(4)] == [(1, 8), (8,), (8, 1), (1,)]
    assert not [p for p in os.listdir(tiny_run) if p.endswith(".tmp")]  # no temporary file left behind


@pytest.mark.parametrize("argv, bad", [
    (["train", "mamll"], "'mamll'"),
    (["train", "maml", "--shots", "0"], "'0'"),
    (["train", "maml", "--iterations", "-5"], "'-5'"),
    (["train", "maml", "--meta-batch", "2.5"], "'2.5'"),
    (["train", "maml", "--inner-steps", "0"], "'0'"),
    (["train", "maml", "--inner-lr", "0"], "'0'"),
    (["train", "maml", "--inner-lr", "nan"], "'nan'"),
    (["train", "maml", "--meta-lr", "-0.001"], "'-0.001'"),
    (["train", "maml", "--seed", "-1"], "'-1'"),
    (["train"], "give an algorithm"),
    (["evaluate", "RUN", "--steps", "-1"], "'-1'"),
    (["train", "--resume", "RUN", "--resume", "NOWHERE"], "--resume given twice"),
    (["train", "maml", "--shots", "5", "--shots", "10"], "--shots given twice (5, then 10)"),
    (["train", "maml", "--out", ""], "--out must name a folder, got ''"),
    (["plot", "RUN", "--out", "name"], "--out 'name' must end in a figure type: .png"),
    (["train", "enhanced", "--msl-iterations", "3"], "--msl-iterations 3 needs --inner-steps 2 or more"),
    (["evaluate", "RUN", "--tasks", "many"], "'many'"),
    (["evaluate", "RUN", "--shots", "-3"], "'-3'"),
    (["evaluate", "NOWHERE"], "no run folder"),
    (["plot", "NOWHERE"], "no run folder"),
    (["train", "--resume", "NOWHERE"], "no run folder"),
    (["train", "--resume", "RUN", "--iterations", "10"], "--iterations 10 is fewer than the 30"),
    (["train", "--resume", "RUN", "--shots", "3"], "not shots"),
    (["train", "maml", "--out", "RUN"], "already holds a run"),
])
def test_bad_input_is_one_line_naming_it(capsys, tiny_run, argv, bad):
    argv = [str(tiny_run) if a == "RUN" else str(tiny_run.parent / a) if a == "NOWHERE" else a for a in argv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and bad in err and "Traceback" not in err, err


@pytest.mark.parametrize("damage", ["garbage", "random bytes", "truncated", "foreign", "no config", "other config",
                                    "unknown algorithm", "non-finite"])
def test_corrupt_or_foreign_checkpoint_is_one_line(capsys, tiny_run, damage):
    path = tiny_run / "checkpoint.npz"
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif damage == "non-finite":  # as an older version kept after an overflowing update
        arrays = npz(tiny_run)
        arrays["meta/params/0"] = np.full_like(arrays["meta/params/0"], np.inf)
        np.savez(path, **arrays)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "foreign":
        np.savez(path, weights=np.ones(3))
    elif damage == "no config":
        (tiny_run / "config.json").unlink()
    else:
        config = json.loads((tiny_run / "config.json").read_text())
        config.update(hidden=[9]) if damage == "other config" else config.update(algorithm="nosuch")
        (tiny_run / "config.json").write_text(json.dumps(config))
    expected = {"garbage": "is not an .npz file", "random bytes": "is not an .npz file", "foreign": "is not a 'tinymeta",
                "other config": "hidden [8] in the checkpoint, [9] in config.json",
                "unknown algorithm": "algorithm 'maml' in the checkpoint, 'nosuch' in config.json",
                "non-finite": "holds non-finite numbers (meta/params/0)"}.get(damage, "")
    for command in (["evaluate", tiny_run], ["plot", tiny_run], ["train", "--resume", tiny_run, "--iterations", 40]):
        code, out, err = run_cli(capsys, *command)
        assert code == 2 and len(err.strip().splitlines()) == 1 and str(tiny_run) in err, err
        assert "Traceback" not in err and "pickled" not in err and expected in err, err


def test_a_checkpoint_records_its_run_and_another_runs_is_refused(capsys, tmp_path):
    """A reptile checkpoint copied into a maml run folder (the same shapes) is refused, naming both; a
    checkpoint written before the record existed (no "run" array) still loads, checked by its shapes."""
    reptile_run, maml_run = tmp_path / "reptile", tmp_path / "maml"
    for name, out in (("reptile", reptile_run), ("maml", maml_run)):
        assert run_cli(capsys, "train", name, *TINY, "--iterations", 3, "--out", out)[0] == 0
    recorded = json.loads(str(npz(maml_run)["run"]))
    config = json.loads((maml_run / "config.json").read_text())
    assert recorded == {k: v for k, v in config.items() if k != "iterations"}
    (maml_run / "checkpoint.npz").write_bytes((reptile_run / "checkpoint.npz").read_bytes())
    code, _, err = run_cli(capsys, "evaluate", maml_run, "--tasks", 10)
    assert code == 2 and "algorithm 'reptile' in the checkpoint, 'maml' in config.json" in err, err
    arrays = npz(reptile_run)  # as the code before the record wrote it
    del arrays["run"]
    np.savez(maml_run / "checkpoint.npz", **arrays)
    assert run_cli(capsys, "evaluate", maml_run, "--tasks", 10)[0] == 0  # nothing to tell them apart: loads


def test_checkpoint_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    meta = {"params": [rng.normal(size=(2, 3)), rng.normal(size=3)], "lr": [np.full((2, 3), 0.1), np.float64(0.5)]}
    rng.normal(size=7)  # move the generator somewhere
    state = dict(meta=meta, adam=(12, rng.normal(size=10), rng.random(10)), rng=rng, iteration=12,
                 history=list(rng.random(12)))
    checkpoint.save(tmp_path, state)
    (tmp_path / "config.json").write_text("{}")
    config, back = checkpoint.load(tmp_path)
    assert config == {} and back["iteration"] == 12 and back["history"] == state["history"]
    assert back["adam"][0] == 12 and all(np.array_equal(a, b) for a, b in zip(back["adam"][1:], state["adam"][1:]))
    assert sorted(back["meta"]) == ["lr", "params"] and isinstance(back["meta"]["params"], list)
    for key in meta:
        assert all(np.array_equal(a, b) for a, b in zip(back["meta"][key], meta[key]))
    assert np.array_equal(back["rng"].random(5), rng.random(5))  # the generator continues where it was


@pytest.mark.parametrize("algorithm", list(registry.ALGORITHMS))
def test_resume_is_bit_identical(capsys, tmp_path, algorithm):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert run_cli(capsys, "train", algorithm, *TINY, "--iterations", 12, "--out", whole)[0] == 0
    assert run_cli(capsys, "train", algorithm, *TINY, "--iterations", 5, "--out", parts)[0] == 0
    assert run_cli(capsys, "train", "--resume", parts, "--iterations", 9)[0] == 0
    assert run_cli(capsys, "train", "--resume", parts, "--iterations", 12)[0] == 0
    assert_same_checkpoint(whole, parts)
    assert json.loads((parts / "config.json").read_text())["iterations"] == 12


@pytest.mark.parametrize("signum, status, said", [(signal.SIGINT, 130, "interrupted at iteration"),
                                                  (signal.SIGTERM, 143, "stopped by SIGTERM at iteration")])
def test_ctrl_c_and_sigterm_save_a_checkpoint_that_resumes_bit_identically(capsys, tmp_path, signum, status, said):
    out = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "tinymeta", "train", "maml", *TINY[:-1], "--iterations", str(10**8),
                              "--out", str(out)], stderr=subprocess.PIPE, text=True)
    first = child.stderr.readline()  # the first progress line: training is under way
    assert first.startswith("maml 1/100000000"), first
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == status, err
    assert said in err and "Traceback" not in err
    done = int(npz(out)["iteration"])
    assert done >= 1
    assert run_cli(capsys, "train", "--resume", out, "--iterations", done + 3)[0] == 0
    fresh = tmp_path / "fresh"
    assert run_cli(capsys, "train", "maml", *TINY, "--iterations", done + 3, "--out", fresh)[0] == 0
    assert_same_checkpoint(out, fresh)


def limited_memory():
    """For a child process: at most 3 GB of address space, so that asking for more fails at once (MemoryError)
    instead of taking the machine's memory from everything else running on it."""
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


def test_out_of_memory_is_one_line_exit_2_and_leaves_no_run_behind(tmp_path, tiny_run):
    """100,000,000 tasks need 7.45 GiB per array: one line naming the sizes, exit 2, no run folder, so that the
    same --out then takes a run that fits; the same for a network too wide and for evaluate --tasks."""
    out = tmp_path / "big"
    for argv in (["train", "maml", "--meta-batch", "100000000", "--out", out, "--quiet"],
                 ["train", "maml", "--hidden", "100000", "100000", "--out", out, "--quiet"],
                 ["evaluate", tiny_run, "--tasks", "100000000"]):
        run = subprocess.run([sys.executable, "-m", "tinymeta", *map(str, argv)], capture_output=True, text=True,
                             preexec_fn=limited_memory, timeout=300)
        bad = "--meta-batch 100000000" if "--meta-batch" in argv else "--hidden 100000 100000" if "--hidden" in argv \
            else "--tasks 100000000"
        assert run.returncode == 2 and run.stdout == "", run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and "out of memory" in run.stderr and bad in run.stderr, run.stderr
        assert not out.exists()
    out.mkdir()  # a folder that was there before is kept, emptied of what the failed run wrote
    run = subprocess.run([sys.executable, "-m", "tinymeta", "train", "maml", "--meta-batch", "100000000", "--out",
                          str(out), "--quiet"], capture_output=True, text=True, preexec_fn=limited_memory, timeout=300)
    assert run.returncode == 2 and out.is_dir() and not list(out.iterdir()), run.stderr
    assert cli.main(["train", "maml", *TINY, "--iterations", "2", "--out", str(out)]) == 0


@pytest.mark.parametrize("meta_lr", ["1e300", "1e308"])
def test_divergence_stops_naming_the_iteration_and_keeps_a_good_checkpoint(capsys, tmp_path, meta_lr):
    """Adam's rate so large that the first update sends every weight to about +-1e300 (or overflows): the
    checkpoint kept is the last whose meta-loss was finite, and evaluate gives finite numbers from it."""
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "maml", *TINY, "--meta-lr", meta_lr, "--iterations", 50, "--out", out)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    arrays = npz(out)
    done = int(arrays["iteration"])
    assert f"checkpoint of iteration {done} kept" in err, err
    assert done < 50 and all(np.all(np.isfinite(a)) for k, a in arrays.items() if k.startswith(("meta/", "adam/")))
    assert arrays["history"].shape == (done,) and np.all(np.isfinite(arrays["history"]))
    code, table, err = run_cli(capsys, "evaluate", out, "--steps", 1, "--tasks", 10, "--json")
    assert code == 0 and all(r["mse_query"] is not None and r["diverged"] == 0 for r in json.loads(table)), table


def nan_at(iteration, monkeypatch, name="maml"):
    """Make the registry's `name` return a NaN meta-loss at `iteration`, as a diverged run does."""
    entry = registry.ALGORITHMS[name]

    def loss_and_grad(meta, tasks, config, i):
        loss, g = entry.loss_and_grad(meta, tasks, config, i)
        return (np.nan if i == iteration else loss), g
    monkeypatch.setitem(registry.ALGORITHMS, name, entry._replace(loss_and_grad=loss_and_grad))


def test_divergence_keeps_the_state_of_a_run_stopped_at_the_last_good_iteration(capsys, tmp_path, monkeypatch):
    """A NaN meta-loss at iteration 7 was computed at the meta-parameters of iteration 6, so the checkpoint
    kept is that of iteration 5, generator and all: the very bits of a run asked for 5 iterations."""
    nan_at(7, monkeypatch)
    code, _, err = run_cli(capsys, "train", "maml", *TINY, "--iterations", 20, "--out", tmp_path / "diverged")
    assert code == 1 and "meta-loss nan at iteration 7" in err and "checkpoint of iteration 5 kept" in err, err
    monkeypatch.undo()
    assert run_cli(capsys, "train", "maml", *TINY, "--iterations", 5, "--out", tmp_path / "five")[0] == 0
    assert_same_checkpoint(tmp_path / "diverged", tmp_path / "five")


def test_an_overflowing_update_is_not_applied(capsys, tmp_path, monkeypatch):
    """An Adam step whose result is infinite stops training before it is saved, as after the iteration before."""
    entry = registry.ALGORITHMS["maml"]

    def loss_and_grad(meta, tasks, config, i):  # a finite gradient, too large to square at iteration 4
        loss, g = entry.loss_and_grad(meta, tasks, config, i)
        return loss, ({"params": [np.full_like(a, 1e300) for a in g["params"]]} if i == 4 else g)
    monkeypatch.setitem(registry.ALGORITHMS, "maml", entry._replace(loss_and_grad=loss_and_grad))
    code, _, err = run_cli(capsys, "train", "maml", *TINY, "--iterations", 20, "--out", tmp_path / "over")
    assert code == 1 and "the update of iteration 4 overflowed" in err and "checkpoint of iteration 3 kept" in err, err
    monkeypatch.undo()
    assert run_cli(capsys, "train", "maml", *TINY, "--iterations", 3, "--out", tmp_path / "three")[0] == 0
    assert_same_checkpoint(tmp_path / "over", tmp_path / "three")


def test_an_exploding_meta_loss_is_warned_about_once(capsys, tmp_path):
    """--inner-lr 10: every inner step overshoots, the meta-loss is ~1e7 and more while finite: training goes on
    (exit 0) with one warning on stderr, even with --quiet; a healthy run prints nothing."""
    code, _, err = run_cli(capsys, "train", "maml", *TINY, "--inner-lr", 10, "--iterations", 20, "--out", tmp_path / "a")
    assert code == 0 and err.count("warning: meta-loss") == 1 and "at iteration 1 is over 1000 times" in err, err
    code, _, err = run_cli(capsys, "train", "maml", *TINY, "--iterations", 20, "--out", tmp_path / "b")
    assert code == 0 and err == ""


def replay_training_draws(iterations):
    """The training tasks' amplitudes of a TINY maml run with seed 0, and the generator after them."""
    rng = train.task_stream(0, "train")
    mlp.init(rng, (1, 8, 1))  # initialisation comes first, then one meta-batch per iteration
    return np.concatenate([sinusoid.sample_tasks(rng, 4, 5, 5).amplitude for _ in range(iterations)]), rng


def test_evaluation_and_validation_tasks_are_never_training_tasks(tmp_path):
    seen, replayed = replay_training_draws(300)
    train.start(tmp_path, train.make_config("maml", hidden=[8], meta_batch=4, shots=5, iterations=300))
    _, state = train.run(tmp_path, 300, quiet=True)
    assert state["rng"].bit_generator.state == replayed.bit_generator.state  # the replay is what training drew
    test = sinusoid.sample_tasks(train.task_stream(0, "evaluate"), 1000, 5, 5).amplitude  # the same seed, 0
    valid = sinusoid.sample_tasks(train.validation_stream(0), 1000, 5, 5).amplitude
    assert len(set(seen)) == 1200 and len(set(test)) == len(set(valid)) == 1000
    assert not set(seen) & set(test) and not set(seen) & set(valid) and not set(test) & set(valid)


def test_evaluation_matches_a_per_task_loop_and_the_ci_formula(tiny_run):
    config, state, _ = train.load(tiny_run)
    records = evaluate(state["meta"], registry.ALGORITHMS["maml"], config, train.task_stream(4, "evaluate"), 5, 3, 40)
    assert [r["steps"] for r in records] == [0, 1, 2, 3] and all(r["tasks"] == 40 for r in records)
    tasks = sinusoid.sample_tasks(train.task_stream(4, "evaluate"), 40, 5, 5)
    grid = np.linspace(-5, 5, 100)[:, None]
    for r in records:
        query, whole = [], []
        for t in range(40):  # one task at a time, SGD by hand
            w = state["meta"]["params"]
            for _ in range(r["steps"]):
                g = grad(mlp.mse)(w, tasks.x_support[t], tasks.y_support[t])
                w = [p - config["inner_lr"] * gp for p, gp in zip(w, g)]
            query.append(mlp.mse(w, tasks.x_query[t], tasks.y_query[t]))
            whole.append(np.mean((mlp.predict(w, grid) - tasks.amplitude[t] * np.sin(grid - tasks.phase[t])) ** 2))
        for values, mse, ci in ((query, "mse_query", "ci_query"), (whole, "mse_grid", "ci_grid")):
            values = np.array(values)
            assert np.isclose(r[mse], values.mean(), rtol=1e-10)
            assert np.isclose(r[ci], 1.96 * values.std(ddof=1) / np.sqrt(40), rtol=1e-10)
        assert np.isclose(r["median_query"], np.median(query), rtol=1e-10)


def test_evaluate_json_and_table(capsys, tiny_run):
    code, out, _ = run_cli(capsys, "evaluate", tiny_run, "--steps", 2, "--tasks", 20, "--json")
    records = json.loads(out)
    keys = "steps mse_query ci_query mse_grid ci_grid tasks median_query diverged"
    assert code == 0 and [sorted(r) for r in records] == [sorted(keys.split())] * 3
    code, out, _ = run_cli(capsys, "evaluate", tiny_run, "--steps", 2, "--tasks", 20)
    rows = out.splitlines()[2:]
    assert code == 0 and len(rows) == 3
    for row, r in zip(rows, records):
        assert row.split() == [str(r["steps"]), f"{r['mse_query']:.4f}", "±", f"{r['ci_query']:.4f}",
                               f"{r['mse_grid']:.4f}", "±", f"{r['ci_grid']:.4f}", f"{r['median_query']:.4f}",
                               str(r["diverged"]), "of", "20"]


def test_evaluate_tables_say_why_a_number_is_missing(capsys, tiny_run, tmp_path):
    code, out, _ = run_cli(capsys, "evaluate", tiny_run, "--steps", 0, "--tasks", 1)
    rows = out.splitlines()
    assert code == 0 and len(rows) == 4 and rows[2].split()[:4] == ["0", rows[2].split()[1], "±", "n/a"], out
    assert rows[3] == "n/a after ±: an interval needs 2 test tasks or more (--tasks)" and "nan" not in out
    exploding = tmp_path / "exploding"
    assert run_cli(capsys, "train", "maml", *TINY, "--inner-lr", 10, "--iterations", 5, "--out", exploding)[0] == 0
    code, out, _ = run_cli(capsys, "evaluate", exploding, "--steps", 30, "--tasks", 20)
    rows = out.splitlines()
    assert code == 0 and len({len(row) for row in rows[2:33]}) == 1, out  # every row as wide: no 60-digit numbers
    assert "e+" in out and rows[-1].startswith("n/a: not a finite number"), out


def test_the_commands_draw_test_tasks_from_the_evaluate_stream(capsys, tiny_run, monkeypatch):
    """evaluate and plot take their tasks from train.task_stream(--seed, "evaluate"), never the training stream."""
    config, state, algorithm = train.load(tiny_run)
    code, out, _ = run_cli(capsys, "evaluate", tiny_run, "--steps", 1, "--tasks", 30, "--seed", 3, "--json")
    assert code == 0 and json.loads(out) == evaluate(state["meta"], algorithm, config, train.task_stream(3, "evaluate"),
                                                     5, 1, 30)
    assert json.loads(out) != evaluate(state["meta"], algorithm, config, train.task_stream(3, "train"), 5, 1, 30)
    from tinymeta.lab import plot
    drawn = []
    monkeypatch.setattr(plot, "figure", lambda meta, algorithm, config, history, rng, path: drawn.append(rng))
    assert run_cli(capsys, "plot", tiny_run, "--seed", 3)[0] == 0
    assert drawn[0].bit_generator.state == train.task_stream(3, "evaluate").bit_generator.state


def test_evaluate_takes_an_algorithm_name_and_says_what_it_expects(tiny_run):
    config, state, algorithm = train.load(tiny_run)
    by_name = evaluate(state["meta"], "maml", config, train.task_stream(1, "evaluate"), 5, 1, 10)
    assert by_name == evaluate(state["meta"], algorithm, config, train.task_stream(1, "evaluate"), 5, 1, 10)
    for args, message in [((state["meta"], "mamll", config), "unknown algorithm 'mamll'; choose from maml, "),
                          ((state["meta"], 3, config), "algorithm must be a name such as 'maml'"),
                          ((state["meta"]["params"], "maml", config), "meta must be the meta-parameter dict"),
                          ((state["meta"], "maml", None), "config must be the run's configuration dict")]:
        with pytest.raises(ValueError, match=message):
            evaluate(*args, train.task_stream(1, "evaluate"), 5, 1, 10)
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        evaluate(state["meta"], "maml", config, 1, 5, 1, 10)


def test_every_option_has_help_and_help_has_no_stray_percent(capsys):
    assert sorted(cli.OPTION_HELP) == sorted({o for a in registry.ALGORITHMS.values() for o in (a.options or {})})
    _, out, _ = run_cli(capsys, "train", "--help")
    assert "first-order meta-gradients for the first N iterations" in " ".join(out.split())
    _, out, _ = run_cli(capsys, "evaluate", "--help")
    assert "95% CI" in " ".join(out.split()) and "%%" not in out


def test_plot_writes_a_png(capsys, tiny_run, tmp_path):
    code, out, _ = run_cli(capsys, "plot", tiny_run)
    assert code == 0 and (tiny_run / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run_cli(capsys, "plot", tiny_run, "--out", tmp_path / "other.png")
    assert code == 0 and (tmp_path / "other.png").stat().st_size > 10_000 and out == f"wrote {tmp_path / 'other.png'}\n"
    code, out, _ = run_cli(capsys, "plot", tiny_run, "--out", tmp_path / "other.svg")  # the suffix chooses the type
    assert code == 0 and (tmp_path / "other.svg").read_text().lstrip().startswith("<?xml")


def test_maml_and_reptile_directions_are_the_library_ones():
    rng = np.random.default_rng(0)
    meta, tasks = {"params": mlp.init(rng, (1, 8, 1))}, sinusoid.sample_tasks(rng, 4, 5, 5)
    config = train.make_config("maml", inner_steps=2)
    _, g = registry.ALGORITHMS["maml"].loss_and_grad(meta, tasks, config, 1)
    exact = grad(maml.meta_loss)(meta["params"], tasks, mlp.mse, 0.01, 2)
    assert all(np.array_equal(a, b) for a, b in zip(g["params"], exact))
    loss, g = registry.ALGORITHMS["reptile"].loss_and_grad(meta, tasks, config, 1)
    assert all(np.array_equal(a, b) for a, b in zip(g["params"], reptile.meta_gradient(meta["params"], tasks, mlp.mse, 0.01, 2)))
    fast = maml.adapt(meta["params"], tasks.x_support, tasks.y_support, mlp.mse, 0.01, 2)
    assert loss == np.mean(mlp.mse(fast, tasks.x_query, tasks.y_query))


def test_adam_against_the_textbook_per_array():
    rng = np.random.default_rng(1)
    meta = {"params": [rng.normal(size=(2, 3)), rng.normal(size=3)], "lr": [rng.random(3)]}
    state, mine = (0, np.zeros(12), np.zeros(12)), meta
    ref = {k: [a.copy() for a in v] for k, v in meta.items()}
    moments = {k: [(np.zeros_like(a), np.zeros_like(a)) for a in v] for k, v in meta.items()}
    for t in range(1, 6):
        grads = {k: [rng.normal(size=a.shape) for a in v] for k, v in meta.items()}
        mine, state = optim.adam(mine, grads, state, 0.01)
        for k in ref:
            for i, g in enumerate(grads[k]):
                m, v = moments[k][i]
                m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
                moments[k][i] = (m, v)
                ref[k][i] = ref[k][i] - 0.01 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    assert state[0] == 5
    for k in ref:
        assert all(np.allclose(a, b, rtol=1e-13, atol=1e-15) for a, b in zip(mine[k], ref[k]))


def test_progress_lines_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress("maml", 0, 1000, quiet=False, stream=stream)
    for i in range(1, 1001):
        progress.update(i, 1.0)
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/1000"] + [f"{i}/1000" for i in range(100, 1001, 100)]
    assert all("loss 1 " in line and "it/s" in line and "left" in line for line in lines)
    quiet = io.StringIO()
    progress = Progress("maml", 0, 10, quiet=True, stream=quiet)
    for i in range(1, 11):
        progress.update(i, 1.0)
    assert quiet.getvalue() == ""


def test_algorithm_options_become_flags(capsys, tmp_path, monkeypatch):
    def loss_and_grad(meta, tasks, config, iteration):  # MAML, and a zero gradient for the extra entry
        loss, g = registry.ALGORITHMS["maml"].loss_and_grad(meta, tasks, config, iteration)
        return loss, dict(g, scale=np.float64(0.0))

    toy = registry.Algorithm(lambda params, config: {"params": params, "scale": np.float64(config["scale"])},
                          loss_and_grad, registry.sgd, options={"scale": 0.5})
    monkeypatch.setitem(registry.ALGORITHMS, "toy", toy)
    code, _, err = run_cli(capsys, "train", "toy", *TINY, "--scale", "0.25", "--iterations", 2, "--out", tmp_path / "t")
    assert code == 0, err
    assert json.loads((tmp_path / "t" / "config.json").read_text())["scale"] == 0.25
    assert float(npz(tmp_path / "t")["meta/scale"]) == 0.25
    code, _, err = run_cli(capsys, "train", "maml", "--scale", "0.25", "--out", tmp_path / "m")
    assert code == 2 and "maml does not take scale" in err


def test_bench_dispatches_lazily(capsys, monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "tinymeta.lab.bench", types.SimpleNamespace(main=lambda argv: calls.append(argv) or 0))
    assert run_cli(capsys, "bench", "--quick")[0] == 0 and calls == [["--quick"]]
    monkeypatch.setitem(sys.modules, "tinymeta.lab.bench", None)  # as if bench.py were missing
    code, _, err = run_cli(capsys, "bench")
    assert code == 2 and err.strip() == "tinymeta bench: error: tinymeta/lab/bench.py is not in this checkout"


def test_unwritable_paths_are_one_line(capsys, tiny_run, tmp_path):
    (tmp_path / "afile").write_text("")
    for argv in (["train", "maml", "--out", tmp_path / "afile"], ["plot", tiny_run, "--out", tmp_path / "no" / "x.png"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1 and str(tmp_path) in err and "Traceback" not in err, err


def test_flatten_matches_autograds_order_and_round_trips():
    """optim.flatten lays Adam's moment vectors out exactly as autograd.misc.flatten did (checkpoints
    written before keep their meaning), and unflatten gives back the same nest, dict order kept."""
    rng = np.random.default_rng(2)
    meta = {"params": [rng.normal(size=(2, 3)), rng.normal(size=3)], "lr": [rng.random(3), rng.random(())],
            "curvature": (rng.normal(size=(2, 2)),)}
    vector, unflatten = optim.flatten(meta)
    assert np.array_equal(vector, autograd_flatten(meta)[0]) and vector.dtype == np.float64
    back = unflatten(vector + 1)
    assert list(back) == list(meta) and type(back["curvature"]) is tuple
    assert all(a.shape == b.shape and np.array_equal(a + 1, b)
               for a, b in zip(optim.leaves(meta), optim.leaves(back)))


def test_median_counts_a_diverged_task_as_infinitely_bad():
    assert median(np.array([3.0, np.nan, 1.0])) == 3.0 and median(np.array([1.0, np.nan, np.inf])) is None  # inf: null
    assert median(np.array([4.0, 1.0, 2.0, 3.0])) == 2.5


def test_diverged_tasks_are_counted_and_records_stay_strict_json():
    """A task diverged if its query MSE is not finite or above 100x its own before adapting; an inner rate far
    too large makes every task diverge, and the records hold null, never NaN or Infinity."""
    from tinymeta.lab import evaluate as ev
    assert list(ev.diverged(np.array([1.0, np.nan, 401.0, 399.0, np.inf]), np.array([1.0, 1.0, 4.0, 4.0, 1.0]))) == \
        [False, True, True, False, True]
    rng = np.random.default_rng(0)
    meta, config = {"params": mlp.init(rng, (1, 8, 8, 1))}, train.make_config("maml", inner_lr=1e3)
    records = evaluate(meta, registry.ALGORITHMS["maml"], config, np.random.default_rng(1), 5, 3, 30)
    assert records[0]["diverged"] == 0 and records[3]["diverged"] == 30 and records[3]["median_query"] > 1e6
    json.dumps(records, allow_nan=False)  # raises on a bare NaN or Infinity
    fine = evaluate(meta, registry.ALGORITHMS["maml"], train.make_config("maml"), np.random.default_rng(1), 5, 3, 30)
    assert all(r["diverged"] == 0 and r["mse_query"] is not None for r in fine)


def test_the_lab_readme_shows_how_to_load_a_run(tiny_run, tmp_path, monkeypatch):
    """tinymeta/lab/README.md's "Loading a run from Python" block, run as written on a small run in runs/maml."""
    readme = (Path(__file__).parent.parent / "tinymeta" / "lab" / "README.md").read_text()
    section = readme[readme.index("## Loading a run from Python"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]
    (tmp_path / "runs").mkdir()
    os.rename(tiny_run, tmp_path / "runs" / "maml")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(code, namespace)
    assert len(namespace["records"]) == 11 and namespace["prediction"].shape == (3, 10, 1)
    config, state, algorithm = train.load("runs/maml")
    assert namespace["records"] == evaluate(state["meta"], algorithm, config, train.task_stream(1, "evaluate"), 10, 10, 1000)
