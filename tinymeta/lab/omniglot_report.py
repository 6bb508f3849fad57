"""The Omniglot results of `make reproduce` as tables: results/omniglot.json, results/omniglot.md and the Omniglot
table of results/README.md (report.py fills its region), from every finished classification run's result.json.

omniglot.json is a list of rows, only of finished runs: for test tasks
{"run", "algorithm", "ways", "shots", "steps", "accuracy", "ci", "tasks"} (accuracy a fraction, ci its 95%
half-width 1.96 std / sqrt(n) over tasks), and for Lake et al.'s runs {"run", "algorithm", "background", "steps",
"error", "trials"} (error the fraction of the 400 trials wrong). The nearest-neighbour baseline does not adapt: it
has one row per task set, at 0 steps. No number is typed in by hand but the published ones in protocol.py.
"""
import json
import os

from tinymeta.lab.checkpoint import write_json
from tinymeta.lab.protocol import (BACKGROUNDS, LAKE_PUBLISHED, OMNIGLOT_ITERATIONS, OMNIGLOT_PUBLISHED, OMNIGLOT_STEPS,
                                   RUNS, SAME, TWENTY_WAY, VALIDATION_TASKS)
from tinymeta.lab.stats import mean_ci
from tinymeta.lab.train import OMNIGLOT

COMPARED_STEPS = 3  # 5-way runs beside the published cells after 3 steps, as Finn et al. test
LAKE_STEPS = 5  # 20-way runs beside Lake et al.'s methods after 5 steps, the inner steps they are trained with
GLANCE_STEPS = (1, 3)  # results/README.md's table
NAMES = {"maml": "MAML", "fomaml": "first-order MAML", "reptile": "Reptile", "anil": "ANIL", "metasgd": "Meta-SGD",
         "pretrain": "pretrained on all classes, then fine-tuned", "nearest": "nearest neighbour in pixel space"}


def rows(runs):
    """The rows of omniglot.json from the classification runs (report.load(results, "omniglot")): every run's
    test-task rows, then every run's rows on Lake et al.'s runs, each at the step counts of OMNIGLOT_STEPS."""
    tested, on_lake = [], []
    for r in runs:
        for shots, records in sorted(r["evaluations"].items(), key=lambda kv: int(kv[0])):
            for rec in records if isinstance(records, list) else [dict(records, steps=0)]:  # nearest: one record
                if rec["steps"] in OMNIGLOT_STEPS:
                    tested.append(dict(run=r["name"], algorithm=r["algorithm"], ways=r["config"]["ways"], shots=int(shots),
                                       steps=rec["steps"], accuracy=rec["accuracy"], ci=rec["ci_accuracy"],
                                       tasks=rec["tasks"]))
        for rec in r.get("lake") or []:
            if rec["steps"] in OMNIGLOT_STEPS:
                on_lake.append(dict(run=r["name"], algorithm=r["algorithm"], background=r["config"].get("background"),
                                    steps=rec["steps"], error=rec["error"], trials=rec["trials"]))
    return tested + on_lake


def write(results, table):
    """results/omniglot.json and omniglot.md from the rows."""
    write_json(os.path.join(results, "omniglot.json"), table)
    with open(os.path.join(results, "omniglot.md"), "w") as f:
        f.write(markdown(table))


def percent(row):
    """A test-task cell: the accuracy in % ± its 95% half-width (stats.mean_ci's format)."""
    return mean_ci(100 * row["accuracy"], None if row["ci"] is None else 100 * row["ci"]) + "%"


def error(row):
    """A cell of Lake et al.'s runs: the error in %, exact (a number of the 400 trials)."""
    return f"{100 * row['error']:g}%"


def indexed(table):
    """The test-task rows by (run, shots, steps), the rows of Lake et al.'s runs by (run, steps)."""
    tested = {(r["run"], r["shots"], r["steps"]): r for r in table if "accuracy" in r}
    lake = {(r["run"], r["steps"]): r for r in table if "error" in r}
    return tested, lake


def lookup(index, run, *key):
    """The row of `run` at key (..., steps), or None; the nearest-neighbour baseline, which does not adapt, has one
    row, at 0 steps, which holds at every step count."""
    if RUNS.get(run, {}).get("algorithm") == "nearest":
        key = (*key[:-1], 0)
    return index.get((run, *key))


def trained(run):
    spec = RUNS.get(run, {})
    if spec.get("algorithm") == "nearest":
        return "no learning"
    s = spec.get("settings", {})
    return f"{s.get('ways')}-way {spec.get('shots')}-shot" + (f", background {s['background']}" if s.get("background") else "")


def markdown(table):
    tested, lake = indexed(table)
    names = list(dict.fromkeys(r["run"] for r in table))
    n_tasks = " / ".join(sorted({f"{r['tasks']:,}" for r in table if "tasks" in r})) or "the"
    chosen_length = [name for name, spec in RUNS.items() if (spec["select"] or (None,))[0] == "iterations"]
    lines = ["# Few-shot Omniglot classification: every number of the runs", "",
             "Made by `make reproduce` (see `tinymeta/lab/reproduce.py` and `protocol.py`); every number below is read",
             "from `results/runs/*/result.json` through `omniglot.json`, except the published ones (`protocol.py`).",
             f"5-way runs: mean accuracy on the query drawings of {n_tasks} test tasks of the 72 test characters (never",
             "trained on, nor used to choose), ± the 95% interval 1.96·std/√n over tasks; higher is better. 20-way runs",
             "trained on a minimal background set: the error on Lake et al.'s 20 one-shot runs (400 trials); lower is",
             f"better. Hyperparameters the papers do not give were chosen on {VALIDATION_TASKS} tasks of the 24 validation",
             "characters, by trials trained on the other 146 (`select/`); each 5-way run then trains on all 170. Every",
             f"run trains for {OMNIGLOT_ITERATIONS:,} meta-iterations (Finn et al. train 60,000), the budget of the whole",
             "reproduction, but" if chosen_length else "reproduction.",
             *[f"`{name}`, whose length was chosen on validation tasks too (`select/{name}.json`)." for name in chosen_length],
             f"Inner rate on our mean cross-entropy: {OMNIGLOT['inner_lr']:.1f} at 5-way (Finn et al.'s 0.4 on their loss, summed",
             f"over the 5 classes; `train.OMNIGLOT`), {TWENTY_WAY['inner_lr']:.1f} at 20-way (`protocol.TWENTY_WAY` says why).",
             "**same data**: a published number on the very tasks we test on; **other data**: on other",
             "characters (the full Omniglot), so beside ours, not a bar.", ""]
    if not table:
        return "\n".join(lines + ["No classification run has finished yet (`make reproduce`).", ""])
    head = " | ".join(f"{s} step{'s' * (s != 1)}" for s in OMNIGLOT_STEPS)
    for shots in sorted({r["shots"] for r in table if "accuracy" in r}):
        lines += [f"## 5-way {shots}-shot test tasks: accuracy", "", f"| run | trained | {head} |",
                  "|---|---|" + "---|" * len(OMNIGLOT_STEPS)]
        for name in names:
            if lookup(tested, name, shots, 0):
                lines.append(f"| {name} | {trained(name)} | "
                             + " | ".join(cell(lookup(tested, name, shots, s), percent) for s in OMNIGLOT_STEPS) + " |")
        lines.append("")
    lines += ["## Published 5-way accuracy beside ours", "",
              f"Ours after {COMPARED_STEPS} steps, as Finn et al. test.", "",
              "| method | shots | published | source | data | tinymeta |", "|---|---|---|---|---|---|"]
    for algorithm, ways, shots, mean, ci, source, data in OMNIGLOT_PUBLISHED:
        run = f"omniglot-{algorithm}-{ways}w{shots}s"
        ours = lookup(tested, run, shots, COMPARED_STEPS)
        lines.append(f"| {NAMES.get(algorithm, algorithm)} | {shots} | {mean}%{f' ± {ci}%' if ci else ''} | {source} | "
                     f"**{data}** | {f'{percent(ours)} (`{run}`)' if ours else 'no run yet'} |")
    if lake:
        lines += ["", "## Lake et al.'s 20 one-shot runs: error", "", f"| run | background | {head} |",
                  "|---|---|" + "---|" * len(OMNIGLOT_STEPS)]
        for name in names:
            if lookup(lake, name, 0):
                background = RUNS.get(name, {}).get("settings", {}).get("background") or "none"
                lines.append(f"| {name} | {background} | "
                             + " | ".join(cell(lookup(lake, name, s), error) for s in OMNIGLOT_STEPS) + " |")
    lines += ["", "## Published error on Lake et al.'s runs beside ours", "",
              f"The same 400 trials. Ours after {LAKE_STEPS} steps, the inner steps the 20-way runs are trained with.", "",
              "| method | background | error | source | data |", "|---|---|---|---|---|"]
    for method, background, value, source, data in LAKE_PUBLISHED:
        lines.append(f"| {method} | {background or 'none'} | {value}% | {source} | **{data}** |")
    for name in names:
        row = lookup(lake, name, LAKE_STEPS)
        if row:
            lines.append(f"| tinymeta {NAMES.get(row['algorithm'], row['algorithm'])} (`{name}`) | "
                         f"{row['background'] or 'none'} | {error(row)} | tinymeta | **{SAME}** |")
    return "\n".join(lines + [""])


def cell(row, show):
    return show(row) if row else ""


def glance_lines(table):
    """results/README.md's Omniglot table: the nearest-neighbour baseline, pretraining and MAML on 5-way tasks after
    1 and 3 steps; then every 20-way run's error on Lake et al.'s runs after LAKE_STEPS steps, per background."""
    if not table:
        return ["No classification run has finished yet (`make reproduce`)."]
    tested, lake = indexed(table)
    lines = ["| method | " + " | ".join(f"{k}-shot, {s} step{'s' * (s != 1)}" for k in (1, 5) for s in GLANCE_STEPS) + " |",
             "|---|" + "---|" * 4]
    for algorithm in ("nearest", "pretrain", "maml"):
        cells = [lookup(tested, "omniglot-nearest" if algorithm == "nearest" else f"omniglot-{algorithm}-5w{k}s", k, s)
                 for k in (1, 5) for s in GLANCE_STEPS]
        if any(cells):
            lines.append(f"| {NAMES[algorithm]} | " + " | ".join(cell(c, percent) for c in cells) + " |")
    learners = list(dict.fromkeys(r["algorithm"] for r in table if "error" in r and r["algorithm"] != "nearest"))
    if learners:
        lines += ["", f"Error on Lake et al.'s 400 trials after {LAKE_STEPS} steps, by the background set trained on:", "",
                  "| method | " + " | ".join(BACKGROUNDS) + " |", "|---|" + "---|" * len(BACKGROUNDS)]
        for algorithm in learners:
            cells = [lookup(lake, f"omniglot-{algorithm}-20w1s-{b}", LAKE_STEPS) for b in BACKGROUNDS]
            lines.append(f"| {NAMES[algorithm]} | " + " | ".join(cell(c, error) for c in cells) + " |")
    nearest = lookup(lake, "omniglot-nearest", 0)
    if nearest:
        lines += ["", f"Nearest neighbour in pixel space (no learning) on Lake et al.'s runs: {error(nearest)} error."]
    return lines


def summary(table):
    """At most three lines of omniglot.json's rows: MAML's 5-way accuracy after GLANCE_STEPS steps, its error on
    Lake et al.'s runs after LAKE_STEPS steps per background, the nearest-neighbour baseline's (tutorial 12)."""
    tested, lake = indexed(table)
    parts = {"MAML": [f"{k}-shot {percent(r)} after {s} step{'s' * (s != 1)}" for k in (1, 5) for s in GLANCE_STEPS
                      if (r := lookup(tested, f"omniglot-maml-5w{k}s", k, s))],
             "MAML on Lake's runs": [f"{b} {error(r)} error" for b in BACKGROUNDS
                                     if (r := lookup(lake, f"omniglot-maml-20w1s-{b}", LAKE_STEPS))],
             "nearest neighbour": [f"{k}-shot {percent(r)}" for k in (1, 5) if (r := lookup(tested, "omniglot-nearest", k, 0))]
             + [f"Lake's runs {error(r)} error" for r in [lookup(lake, "omniglot-nearest", 0)] if r]}
    return [f"{what}: {', '.join(cells)}" for what, cells in parts.items() if cells]


def load(results=os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "results")):
    """The rows of results/omniglot.json ([] if there is no such file yet)."""
    path = os.path.join(results, "omniglot.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)
