"""Reproduce the published sinusoid and Omniglot results: `make reproduce` (or `make -j2 reproduce`).

The Makefile runs, for every run of protocol.RUNS, independently and skipping finished runs,

    python -m tinymeta.lab.reproduce run NAME       # choose hyperparameters on validation tasks if needed,
                                                    # meta-train (resuming a stopped run), evaluate, keep
                                                    # meta.npz
then
    python -m tinymeta.lab.reproduce table          # results/sinusoid.json, sinusoid.md, omniglot.json,
                                                    # omniglot.md, the tables of results/README.md, and
                                                    # every figure of results/

Every run trains from seed 0 and is evaluated on 1,000 test tasks from the evaluate stream of seed 1
(never seen in training or validation) with `python -m tinymeta evaluate`'s protocol: sinusoids, or 5-way
tasks of the test characters; a 20-way run trained on a background set is scored on Lake et al.'s runs instead.
Hyperparameters the papers do not give are chosen on tasks from the validation stream of seed 0 (Omniglot: of the
validation characters), never on test tasks. What runs, the candidates and the published numbers are in protocol.py.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from tinymeta.lab import checkpoint, families, malloc, train
from tinymeta.lab.checkpoint import commit, write_json
from tinymeta.lab.evaluate import evaluate, lake, nearest
from tinymeta.lab.flags import positive_int
from tinymeta.lab.protocol import OMNIGLOT_STEPS, REPORT_STEPS, RUNS, SCHEDULED, SEED, TEST_SEED, VALIDATION_TASKS


def run(name, results, iterations=None, validation_iterations=None, tasks=1000, hidden=None):
    """Select (if needed), train and evaluate one run of protocol.RUNS; writes results/runs/NAME/result.json
    (last, so that a run without it is unfinished) after meta.npz, the meta-parameters alone
    (checkpoint.load_meta; the checkpoint, which holds Adam's state and the history, is not committed).
    iterations, validation_iterations, hidden: the run's own (protocol.RUNS, the family's network) unless given."""
    if name not in RUNS:
        raise SystemExit(f"tinymeta.lab.reproduce: unknown run {name!r}")
    spec, started, code = RUNS[name], time.time(), commit()  # the code this process runs
    if spec["algorithm"] == "nearest":
        return nearest_run(name, spec, results, tasks, started, code)
    iterations, validation_iterations = iterations or spec["iterations"], validation_iterations or spec["validation_iterations"]
    hidden = hidden or (train.OMNIGLOT if classifies(spec) else train.DEFAULTS)["hidden"]
    algorithm, shots, how = spec["algorithm"], spec["shots"], (spec["select"] or (None,))[0]
    chosen = select(name, spec, results, validation_iterations, hidden) if how == "train" else {}
    if how == "iterations":
        chosen = select_iterations(name, spec, results, hidden)
        iterations = chosen["iterations"]
    run_dir = os.path.join(results, "runs", name)
    if spec.get("stable"):
        chosen = gate(name, spec, results, iterations, hidden, run_dir)
    settings = train_settings(spec, iterations, hidden, chosen)
    diverged = not execute(algorithm, settings, run_dir)
    config, state, entry = train.load(run_dir)  # if training diverged: the last good state, reported as such
    if how == "adapt":  # choose on validation tasks, with a model that never saw them
        trial = trial_for_adapting(name, spec, results, validation_iterations, hidden, settings) or (config, state)
        chosen = choose([(c, validation_score(trial[1]["meta"], entry, {**trial[0], **c}, shots, spec["score_steps"]))
                         for c in spec["select"][1]], os.path.join(results, "select", name + ".json"), spec["score_steps"],
                        higher=classifies(spec))
        config.update(chosen)
        checkpoint.write_config(run_dir, config)
    steps = max(OMNIGLOT_STEPS if classifies(spec) else REPORT_STEPS)
    evaluations = {k: evaluate(state["meta"], entry, config, train.task_stream(TEST_SEED, "evaluate"),
                               k, steps, tasks) for k in spec["tests"]}
    checkpoint.save_meta(run_dir, state["meta"])
    evaluate_command = ["python", "-m", "tinymeta", "evaluate", run_dir]
    commands = [train_command(algorithm, settings, run_dir)] + [
        [*evaluate_command, "--shots", str(k), "--steps", str(steps), "--tasks", str(tasks), "--seed", str(TEST_SEED),
         "--json"] for k in evaluations] + ([[*evaluate_command, "--steps", str(steps), "--json"]] if spec["lake"] else [])
    result = dict(name=name, algorithm=algorithm, shots=shots, iterations=state["iteration"], diverged=diverged, seed=SEED,
                  test_seed=TEST_SEED, chosen=chosen, commit=code, started=started, finished=time.time(),
                  command=" && ".join(map(" ".join, commands)), config=config,
                  evaluations={str(k): v for k, v in evaluations.items()})
    if spec["lake"]:  # Lake et al.'s 20 runs, as `evaluate --json` gives them ("lake_runs")
        result["lake"] = lake(state["meta"], entry, config, steps)
    write_json(os.path.join(run_dir, "result.json"), result)


def nearest_run(name, spec, results, tasks, started, code):
    """The nearest-neighbour baseline as a run: no training; on the test tasks of every K of spec["tests"] (the
    very tasks the runs are tested on) and on Lake et al.'s runs, as `python -m tinymeta nearest --json` gives them."""
    ways, evaluations = spec["settings"]["ways"], {}
    config = dict(problem="omniglot", ways=ways, rotate=False)
    for k in spec["tests"]:
        evaluations[str(k)], on_runs = nearest(dict(config, shots=k, queries=k), train.task_stream(TEST_SEED, "evaluate"),
                                               k, k, tasks)
    commands = [["python", "-m", "tinymeta", "nearest", "--ways", str(ways), "--shots", str(k), "--tasks", str(tasks),
                 "--seed", str(TEST_SEED), "--json"] for k in spec["tests"]]
    result = dict(name=name, algorithm="nearest", shots=None, iterations=0, diverged=False, seed=SEED, test_seed=TEST_SEED,
                  chosen={}, commit=code, started=started, finished=time.time(), command=" && ".join(map(" ".join, commands)),
                  config=config, evaluations=evaluations, lake=[on_runs])
    write_json(os.path.join(results, "runs", name, "result.json"), result)


def classifies(spec):
    """Whether a run of protocol.RUNS is Omniglot classification (scored by accuracy, higher is better)."""
    return families.problem(spec["settings"]) == "omniglot"


def table(results):
    """results/sinusoid.json, sinusoid.md, omniglot.json, omniglot.md and the tables of results/README.md from every
    finished run's result.json, and every figure of results/ drawn anew from the committed files (figures.py)."""
    from tinymeta.lab import figures, report  # matplotlib is slow to import: only here
    runs = report.load(results)
    os.makedirs(results, exist_ok=True)
    report.write(results, runs, figures.draw(results, runs), report.load(results, "omniglot"))


def train_settings(spec, iterations, hidden, chosen):
    """The `train` settings of a run: the protocol's, the run's own, then the hyperparameters chosen for it;
    options of protocol.SCHEDULED, in the schedule or chosen, are fractions of `iterations`."""
    fractions = dict(spec["schedule"], **{k: v for k, v in chosen.items() if k in SCHEDULED})
    scheduled = {k: int(round(f * iterations)) for k, f in fractions.items()}
    return dict(shots=spec["shots"], iterations=iterations, seed=SEED, hidden=list(hidden), **spec["settings"],
                **scheduled, **{k: v for k, v in chosen.items() if k not in SCHEDULED and k != "iterations"})


def train_command(algorithm, settings, run_dir):
    """The `python -m tinymeta train` command that makes the same run (recorded in result.json; a test
    checks that it gives the same configuration)."""
    s = dict(settings)
    fixed = ["--shots", str(s.pop("shots")), "--iterations", str(s.pop("iterations")), "--seed", str(s.pop("seed")),
             "--hidden", *map(str, s.pop("hidden"))]
    return ["python", "-m", "tinymeta", "train", algorithm, *fixed,
            *[flag(k, v) for k, v in sorted(s.items())], "--out", run_dir, "--quiet"]


def flag(name, value):
    """--name=value, or the bare --name of a switch such as --cosine."""
    return f"--{name.replace('_', '-')}" + ("" if value is True else f"={value}")


def execute(algorithm, settings, run_dir):
    """Train the run in run_dir as train_command's command would, resuming it if it was stopped.

    Returns False if training diverged (a non-finite meta-loss: the checkpoint holds the last good state).
    """
    if not os.path.exists(os.path.join(run_dir, "checkpoint.npz")):
        train.start(run_dir, train.make_config(algorithm, **settings))
    try:
        train.run(run_dir, settings["iterations"], quiet=True)
    except FloatingPointError as e:
        print(f"tinymeta.lab.reproduce: {e}", file=sys.stderr)
        return False
    return True


def select(name, spec, results, validation_iterations, hidden):
    """Meta-train every candidate briefly and keep the one with the best validation score (MSE: the lowest;
    accuracy: the highest)."""
    path = os.path.join(results, "select", name + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)["chosen"]
    scored = []
    for i, candidate in enumerate(spec["select"][1]):
        run_dir = os.path.join(results, "select", name, f"candidate{i}")
        if not execute(spec["algorithm"], held_out(train_settings(spec, validation_iterations, hidden, candidate)), run_dir):
            scored.append((candidate, float("nan")))  # diverged in training: it loses
            continue
        config, state, entry = train.load(run_dir)
        scored.append((candidate, validation_score(state["meta"], entry, config, spec["shots"], spec["score_steps"],
                                                   spec.get("stable"))))
    return choose(scored, path, spec["score_steps"], spec.get("stable"), higher=classifies(spec))


def select_iterations(name, spec, results, hidden):
    """Choose how long to train: one trial without the validation characters (select/NAME/trial), resumed from
    count to count of the candidates, scored on validation tasks after each."""
    path = os.path.join(results, "select", name + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)["chosen"]
    trial_dir, scored = os.path.join(results, "select", name, "trial"), []
    for candidate in spec["select"][1]:
        execute(spec["algorithm"], held_out(train_settings(spec, candidate["iterations"], hidden, {})), trial_dir)
        config, state, entry = train.load(trial_dir)
        scored.append((candidate, validation_score(state["meta"], entry, config, spec["shots"], spec["score_steps"])))
    return choose(scored, path, spec["score_steps"], higher=classifies(spec))


def held_out(settings):
    """A candidate's settings: trained without the validation characters it is scored on."""
    return {k: v for k, v in settings.items() if k != "with_validation"}


def trial_for_adapting(name, spec, results, validation_iterations, hidden, settings):
    """For an "adapt" selection of a run that trains on the validation characters: (config, state) of a trial run
    of validation_iterations without them (select/NAME/trial), on which the candidates are scored; else None."""
    if not settings.get("with_validation"):
        return None
    trial_dir = os.path.join(results, "select", name, "trial")
    execute(spec["algorithm"], held_out(dict(settings, iterations=validation_iterations)), trial_dir)
    config, state, _ = train.load(trial_dir)
    return config, state


def gate(name, spec, results, iterations, hidden, run_dir):
    """For a run with "stable": the best-scored candidate whose full run diverges on no validation task after any
    of 0..stable steps. Candidates are trained in full in select/NAME/full-I, best score first, each check is
    recorded in select/NAME.json, and the first that passes is moved to run_dir (if none does, the best-scored)."""
    path, stable = os.path.join(results, "select", name + ".json"), spec["stable"]
    with open(path) as f:
        record = json.load(f)
    scores = [c["score"] for c in record["candidates"]]
    ranked = sorted((i for i, s in enumerate(scores) if s is not None), key=lambda i: scores[i]) or [0]
    checks = record.setdefault("full_runs", [])
    for i in ranked:
        check = next((c for c in checks if c["index"] == i), None)
        if check is None:
            candidate, full_dir = record["candidates"][i]["candidate"], os.path.join(results, "select", name, f"full-{i}")
            trained = execute(spec["algorithm"], train_settings(spec, iterations, hidden, candidate), full_dir)
            config, state, entry = train.load(full_dir)
            records = evaluate(state["meta"], entry, config, train.validation_stream(SEED), spec["shots"], stable,
                               VALIDATION_TASKS)
            check = dict(index=i, candidate=candidate, iterations=state["iteration"], diverged_in_training=not trained,
                         validation=[{k: r[k] for k in ("steps", "mse_query", "median_query", "diverged")} for r in records],
                         passed=trained and all(r["diverged"] == 0 and r["mse_query"] is not None for r in records))
            checks.append(check)
            write_json(path, record)
        if check["passed"]:
            break
    else:
        check = next(c for c in checks if c["index"] == ranked[0])
    if not os.path.exists(run_dir):
        os.makedirs(os.path.dirname(run_dir), exist_ok=True)
        os.replace(os.path.join(results, "select", name, f"full-{check['index']}"), run_dir)
    record.update(chosen=check["candidate"], how=choose_how(spec["score_steps"], stable) + f"; then the full run of "
                  f"each, best first, until one diverged on no validation task after any of 0..{stable} steps")
    write_json(path, record)
    return check["candidate"]


def validation_score(meta, entry, config, shots, steps, stable=None):
    """Mean query MSE after each of `steps` adaptation steps on validation tasks: nan if that mean is not finite
    or, with `stable`, if any task diverged (evaluate's rule) after any of 0..stable steps. For an Omniglot run,
    the mean query accuracy on tasks of the validation characters."""
    records = evaluate(meta, entry, config, train.validation_stream(SEED), shots, max(*steps, stable or 0),
                       VALIDATION_TASKS, part="validation")
    if stable and any(r["diverged"] for r in records[:stable + 1]):
        return float("nan")
    measure = "accuracy" if families.problem(config) == "omniglot" else "mse_query"
    return float(np.mean([score(records[s][measure]) for s in steps]))


def score(value):
    return float("nan") if value is None else value


def choose(scored, path, steps, stable=None, higher=False):
    """The candidate with the lowest finite score, or with `higher` (accuracy) the highest; every candidate's score
    is recorded in `path`."""
    finite = [(c, s) for c, s in scored if np.isfinite(s)]
    chosen = (max if higher else min)(finite, key=lambda cs: cs[1])[0] if finite else scored[0][0]
    write_json(path, dict(chosen=chosen, how=choose_how(steps, stable, higher),
                          candidates=[dict(candidate=c, score=s if np.isfinite(s) else None) for c, s in scored]))
    return chosen


def choose_how(steps, stable=None, higher=False):
    if higher:
        return (f"highest mean of {describe(steps)} query accuracy on {VALIDATION_TASKS} validation tasks of the "
                f"validation characters (validation stream of seed {SEED})")
    return (f"lowest mean of {describe(steps)} query MSE on {VALIDATION_TASKS} validation tasks (validation stream of "
            f"seed {SEED})" + (f", none of which diverged after any of 0..{stable} steps" if stable else ""))


def describe(steps):
    """(1, 10) -> "1-step and 10-step"; (1, 5, 10) -> "1-step, 5-step and 10-step"."""
    words = [f"{s}-step" for s in steps]
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else words[0]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tinymeta.lab.reproduce", description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["run", "table", "runs"], help="run NAME, table, or list the run names")
    p.add_argument("name", nargs="?", help="a run name (see `runs`), for run")
    p.add_argument("--results", default="results", help="output folder (default results)")
    p.add_argument("--iterations", type=positive_int,
                   help="meta-iterations per run (default: the run's, 70,000 for sinusoids; protocol.OMNIGLOT_ITERATIONS)")
    p.add_argument("--validation-iterations", type=positive_int, help="meta-iterations per candidate when choosing "
                   "hyperparameters (default: the run's, 5,000 for sinusoids; protocol.OMNIGLOT_VALIDATION_ITERATIONS)")
    p.add_argument("--tasks", type=positive_int, default=1000, help="test tasks (1,000)")
    p.add_argument("--hidden", type=positive_int, nargs="+",
                   help="hidden widths (default: the family's, 40 40 for sinusoids, 256 128 64 64 for Omniglot)")
    args = p.parse_args(argv)
    try:
        return command(p, args)
    except (checkpoint.CheckpointError, train.ConfigError, OSError) as e:
        print(f"tinymeta.lab.reproduce: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"\ntinymeta.lab.reproduce: {e or 'interrupted'}", file=sys.stderr)
        return 130


def command(p, args):
    if args.command == "runs":
        print(" ".join(RUNS))
    elif args.command == "run":
        if not args.name:
            p.error("run needs a NAME such as maml-k10")
        malloc.keep_freed_memory()
        run(args.name, args.results, args.iterations, args.validation_iterations, args.tasks, args.hidden)
    else:
        table(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
