"""Reproduce the published sinusoid results: `make reproduce` (or `make -j2 reproduce`).

The Makefile runs, for every algorithm and K in (5, 10), independently and skipping finished runs,

    python -m tinymeta.reproduce run ALGO-kK    # choose hyperparameters on validation tasks if needed,
                                                # meta-train (resuming a stopped run), evaluate
then
    python -m tinymeta.reproduce table          # results/sinusoid.json, sinusoid.md and the figures

Every run trains from seed 0 and is evaluated on 1,000 test tasks from the evaluate stream of seed 1
(never seen in training or validation) with `python -m tinymeta evaluate`'s protocol. Hyperparameters
the papers do not give are chosen on tasks from the validation stream of seed 0, never on test tasks.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from tinymeta import cli, train
from tinymeta.evaluate import evaluate

ALGORITHMS = ("pretrain", "maml", "fomaml", "reptile", "metasgd", "lslr", "metacurvature", "enhanced", "anil")
SHOTS = (5, 10)
REPORT_STEPS = (1, 5, 10)
SEED, TEST_SEED, VALIDATION_TASKS = 0, 1, 500

# Hyperparameters that are not the papers', with the candidates tried on validation tasks.
# "train": each candidate is meta-trained for --validation-iterations and the best is trained in full;
# "adapt": the candidates change only test-time adaptation, so they are compared on the full run.
CANDIDATES = {
    "reptile": ("train", [dict(inner_steps=s, meta_lr=lr) for s in (5, 10) for lr in (0.001, 0.003)]),
    "pretrain": ("adapt", [dict(inner_lr=lr) for lr in (0.0005, 0.001, 0.002, 0.005, 0.01)]),
    "enhanced": ("train", [dict(inner_lr=lr) for lr in (0.003, 0.01, 0.03)]),
}

# Published MSE on K query points (sinusoids of Finn et al. 2017), keyed by (algorithm, trained K, tested K, steps):
# a list of (mean, 95% half-width or None, source).
FINN, PARK, LI = "Finn et al. 2017, Table 2", "Park & Oliva 2019", "Li et al. 2017 (other protocol: report, not target)"
PUBLISHED = {
    ("maml", 10, 5, 1): [(0.67, None, FINN)], ("maml", 10, 5, 5): [(0.38, None, FINN)],
    ("maml", 10, 5, 10): [(0.35, None, FINN)],
    ("pretrain", 10, 5, 1): [(2.41, None, FINN)], ("pretrain", 10, 5, 5): [(2.23, None, FINN)],
    ("pretrain", 10, 5, 10): [(2.19, None, FINN)],
    ("maml", 5, 5, 1): [(0.69, 0.07, PARK), (1.13, 0.18, LI)], ("maml", 10, 10, 1): [(0.44, 0.04, PARK)],
    ("metasgd", 5, 5, 1): [(0.48, 0.06, PARK), (0.90, 0.16, LI)], ("metasgd", 10, 10, 1): [(0.26, 0.03, PARK)],
    ("metacurvature", 5, 5, 1): [(0.41, 0.05, PARK)], ("metacurvature", 10, 10, 1): [(0.20, 0.02, PARK)],
    ("enhanced", 5, 5, 1): [(0.41, 0.05, "bar: Meta-Curvature, " + PARK)],
    ("enhanced", 10, 10, 1): [(0.20, 0.02, "bar: Meta-Curvature, " + PARK)],
}
# The bar: these algorithms' cells from Finn et al. and Park & Oliva are to be matched or beaten (mean at or below).
BAR = ({"maml", "metasgd", "metacurvature", "enhanced"}, {FINN, PARK, "bar: Meta-Curvature, " + PARK})


def run(name, results, iterations, validation_iterations, tasks, hidden):
    """Select (if needed), train and evaluate one run; writes results/runs/NAME/result.json."""
    algorithm, shots = name.rsplit("-k", 1)
    shots = int(shots)
    if algorithm not in ALGORITHMS or shots not in SHOTS:
        raise SystemExit(f"tinymeta.reproduce: unknown run {name!r}")
    started, how = time.time(), CANDIDATES.get(algorithm, (None,))[0]
    chosen = select(name, algorithm, shots, results, validation_iterations, hidden) if how == "train" else {}
    run_dir = os.path.join(results, "runs", name)
    diverged = not execute(train_command(algorithm, shots, iterations, hidden, chosen, run_dir), run_dir, iterations)
    config, state, entry = train.load(run_dir)  # if training diverged: the last good state, reported as such
    if how == "adapt":  # choose on validation tasks, with the trained model
        chosen = choose([(c, validation_score(state["meta"], entry, {**config, **c}, shots)) for c in
                         CANDIDATES[algorithm][1]], os.path.join(results, "select", name + ".json"))
        config.update(chosen)
        train.write_config(run_dir, config)
    evaluations = {shots: evaluate(state["meta"], entry, config, train.task_stream(TEST_SEED, "evaluate"),
                                   shots, max(REPORT_STEPS), tasks)}
    if shots == 10 and algorithm in ("maml", "pretrain"):  # Finn et al.'s Table 2: K=10 model, 5-shot test
        evaluations[5] = evaluate(state["meta"], entry, config, train.task_stream(TEST_SEED, "evaluate"),
                                  5, max(REPORT_STEPS), tasks)
    commands = [train_command(algorithm, shots, iterations, hidden, chosen, run_dir)] + [
        ["python", "-m", "tinymeta", "evaluate", run_dir, "--shots", str(k), "--steps", str(max(REPORT_STEPS)),
         "--tasks", str(tasks), "--seed", str(TEST_SEED), "--json"] for k in evaluations]
    result = dict(name=name, algorithm=algorithm, shots=shots, iterations=state["iteration"], diverged=diverged, seed=SEED,
                  test_seed=TEST_SEED, chosen=chosen, commit=commit(), started=started, finished=time.time(),
                  command=" && ".join(map(" ".join, commands)),
                  evaluations={str(k): v for k, v in evaluations.items()})
    write_json(os.path.join(run_dir, "result.json"), result)


def train_command(algorithm, shots, iterations, hidden, chosen, run_dir):
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in sorted(chosen.items())]
    return ["python", "-m", "tinymeta", "train", algorithm, "--shots", str(shots), "--iterations", str(iterations),
            "--seed", str(SEED), "--hidden", *map(str, hidden), *flags, "--out", run_dir, "--quiet"]


def execute(command, run_dir, iterations):
    """Run a `python -m tinymeta train` command in this process, resuming it if it was stopped.

    Returns False if training diverged (a non-finite meta-loss: the checkpoint holds the last good state).
    """
    if os.path.exists(os.path.join(run_dir, "checkpoint.npz")):
        argv = ["train", "--resume", run_dir, "--iterations", str(iterations), "--quiet"]
    else:
        argv = command[3:]
    status = cli.main(argv)
    if status not in (0, 1):  # 1: diverged, said on stderr by the command
        raise SystemExit(status)
    return status == 0


def select(name, algorithm, shots, results, validation_iterations, hidden):
    """Meta-train every candidate briefly and keep the one with the lowest validation score."""
    path = os.path.join(results, "select", name + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)["chosen"]
    scored = []
    for i, candidate in enumerate(CANDIDATES[algorithm][1]):
        run_dir = os.path.join(results, "select", name, f"candidate{i}")
        if not execute(train_command(algorithm, shots, validation_iterations, hidden, candidate, run_dir),
                       run_dir, validation_iterations):
            scored.append((candidate, float("nan")))  # diverged in training: it loses
            continue
        config, state, entry = train.load(run_dir)
        scored.append((candidate, validation_score(state["meta"], entry, config, shots)))
    return choose(scored, path)


def validation_score(meta, entry, config, shots):
    """Mean of the 1-step and 10-step query MSE on validation tasks (the two step counts we report)."""
    records = evaluate(meta, entry, config, train.validation_stream(SEED), shots, 10, VALIDATION_TASKS)
    return float(np.mean([records[1]["mse_query"], records[10]["mse_query"]]))


def choose(scored, path):
    """The candidate with the lowest finite score; every candidate's score is recorded in `path`."""
    finite = [(c, s) for c, s in scored if np.isfinite(s)]
    chosen = min(finite, key=lambda cs: cs[1])[0] if finite else scored[0][0]
    write_json(path, dict(chosen=chosen, how=f"lowest mean of 1-step and 10-step query MSE on {VALIDATION_TASKS} "
                          f"validation tasks (validation stream of seed {SEED})",
                          candidates=[dict(candidate=c, score=s) for c, s in scored]))
    return chosen


def commit():
    """The git commit the code was at, with '+dirty' if tinymeta/ had uncommitted changes."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(json.dumps(value, indent=1) + "\n")
    os.replace(temporary, path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tinymeta.reproduce", description=__doc__.split("\n")[0])
    p.add_argument("command", choices=["run", "table", "runs"], help="run NAME, table, or list the run names")
    p.add_argument("name", nargs="?", help="ALGO-kK, for run")
    p.add_argument("--results", default="results", help="output folder (default results)")
    p.add_argument("--iterations", type=cli.positive_int, default=70000, help="meta-iterations per run (70,000)")
    p.add_argument("--validation-iterations", type=cli.positive_int, default=5000,
                   help="meta-iterations per candidate when choosing hyperparameters (5,000)")
    p.add_argument("--tasks", type=cli.positive_int, default=1000, help="test tasks (1,000)")
    p.add_argument("--hidden", type=cli.positive_int, nargs="+", default=[40, 40], help="hidden widths (40 40)")
    args = p.parse_args(argv)
    if args.command == "runs":
        print(" ".join(f"{a}-k{k}" for a in ALGORITHMS for k in SHOTS))
    elif args.command == "run":
        if not args.name:
            p.error("run needs a NAME such as maml-k10")
        run(args.name, args.results, args.iterations, args.validation_iterations, args.tasks, args.hidden)
    else:
        from tinymeta import report  # matplotlib is slow to import: only here
        report.write(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
