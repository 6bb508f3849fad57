"""The results of `make reproduce` as tables: results/sinusoid.json, results/sinusoid.md, and the tables of
results/README.md (the regions between `<!-- report: NAME -->` and `<!-- /report -->`, rewritten in place).

Everything here is read from results/runs/*/result.json (and, for the paired differences, the runs'
meta.npz); no number is typed in by hand except the published ones in protocol.py. The figures the
markdown shows are figures.py's; the statistics and number formats are stats.py's.
"""
import glob
import json
import os
import re
from fractions import Fraction

import numpy as np

from tinymeta import sinusoid
from tinymeta.lab import families, omniglot_report, train
from tinymeta.lab.checkpoint import commit, write_json
from tinymeta.lab.evaluate import DIVERGED, ci95
from tinymeta.lab.protocol import GOALS, MULTI_STEP, PUBLISHED, REPORT_STEPS, RUNS, SCHEDULED, SHOTS, TEST_SEED
from tinymeta.lab.stats import diverged_cell, mean_ci, paired_row, paired_text, per_task_errors, sig

KEYS = ("mse_query", "ci_query", "median_query", "diverged", "tasks", "mse_grid", "ci_grid")
# The first table of results/README.md: the baselines and each algorithm as trained for adapting in several steps,
# with five inner steps (MAML++) where the protocol has such a run, else with one as in the papers.
GLANCE = [("pretrained on all tasks, then fine-tuned", "pretrain-k{k}"),
          ("MAML, five inner steps", "maml-5step-k{k}"),
          ("first-order MAML", "fomaml-k{k}"),
          ("Reptile", "reptile-k{k}"),
          ("ANIL (adapts the last layer)", "anil-k{k}"),
          ("Meta-SGD", "metasgd-k{k}"),
          ("LSLR, five inner steps", "lslr-5step-k{k}"),
          ("Meta-Curvature, five inner steps", "metacurvature-5step-k{k}"),
          ("MAML Enhanced, five inner steps (MAML++)", "enhanced-5step-k{k}"),
          ("iMAML (Newton inner steps)", "imaml-k{k}"),
          ("CAVIA (adapts a context)", "cavia-k{k}")]
GLANCE_STEPS = (1, 5)
# iMAML and CAVIA, task by task against each MAML run tested on the same K: the papers' setting (which diverges
# when its step is repeated), five inner steps, and Finn et al.'s code setting (trained with K = 10).
PAIRED, AGAINST = ("imaml", "cavia"), ("maml-k{k}", "maml-5step-k{k}", "maml-finn-k10")
REGION = re.compile(r"(<!-- report: (\w+) -->\n).*?(<!-- /report -->)", re.S)


def write(results, runs, figures=(), classification=()):
    """results/sinusoid.json and sinusoid.md from the runs (as `load` gives them), omniglot.json and omniglot.md from
    the classification runs (load(results, "omniglot")), and the tables of results/README.md if it exists;
    `figures`: the figures drawn (paths under results), for the markdown."""
    table, text = tables(results, runs, figures, commit())
    write_json(os.path.join(results, "sinusoid.json"), table)
    with open(os.path.join(results, "sinusoid.md"), "w") as f:
        f.write(text)
    omniglot = omniglot_report.rows(classification)
    omniglot_report.write(results, omniglot)
    readme = os.path.join(results, "README.md")
    if os.path.exists(readme):
        with open(readme) as f:
            text = f.read()
        with open(readme, "w") as f:
            f.write(fill(text, table, omniglot))


def tables(results, runs, figures, table_commit):
    """(what sinusoid.json holds, the text of sinusoid.md), made at code commit `table_commit`."""
    rows = table_rows(runs)
    protocol = dict(task_family="y = A sin(x - phase), A ~ U[0.1, 5], phase ~ U[0, pi], x ~ U[-5, 5] (Finn et al. 2017)",
                    model="MLP 1-40-40-1 ReLU", meta_batch=train.DEFAULTS["meta_batch"],
                    test_tasks="evaluate stream of seed 1 (python -m tinymeta evaluate)",
                    validation_tasks="validation stream of seed 0, for the hyperparameters in results/select",
                    metric="mean MSE on K query points and on 100 grid points of [-5, 5], with 1.96 std / sqrt(n)",
                    diverged=f"tasks whose query MSE is not finite or above {DIVERGED}x their MSE before adapting",
                    null="a mean, interval or median that is not a finite number (some task diverged)",
                    inner_lr="the run's inner learning rate; for learned rates (metasgd, lslr, enhanced) the initial one",
                    table_commit=table_commit)
    n_tasks = rows[0]["tasks"] if rows else 0
    table = dict(protocol=protocol, rows=rows, paired=paired(results, runs),
                 predicting_zero={str(k): predicting_zero(k, n_tasks) for k in SHOTS if n_tasks})
    return table, markdown(table, runs, figures)


def load(results, problem="sinusoid"):
    """Every finished run's result.json of one family ("sinusoid" or "omniglot"), in the order of protocol.RUNS
    (with its config.json if it lacks one)."""
    runs = []
    for path in glob.glob(os.path.join(results, "runs", "*", "result.json")):
        with open(path) as f:
            r = json.load(f)
        if "config" not in r:
            with open(os.path.join(os.path.dirname(path), "config.json")) as f:
                r["config"] = json.load(f)
        if families.problem(r["config"]) == problem:
            runs.append(r)
    order = {name: i for i, name in enumerate(RUNS)}
    return sorted(runs, key=lambda r: (order.get(r["name"], len(order)), r["name"]))


def table_rows(runs):
    """One row per run, tested K and reported step count: what results/sinusoid.json holds."""
    return [dict(run=r["name"], algorithm=r["algorithm"], train_shots=r["shots"], shots=int(tested), steps=rec["steps"],
                 inner_steps=r["config"]["inner_steps"], inner_lr=r["config"]["inner_lr"], **{k: rec[k] for k in KEYS},
                 iterations=r["iterations"], seed=r["seed"], command=r["command"], commit=r["commit"])
            for r in runs for tested, records in sorted(r["evaluations"].items(), key=lambda kv: int(kv[0]))
            for rec in records if rec["steps"] in REPORT_STEPS]


def predicting_zero(shots, n_tasks):
    """The error of predicting 0 everywhere on the K query points of the test tasks: {"mse", "ci"}."""
    tasks = sinusoid.sample_tasks(train.task_stream(TEST_SEED, "evaluate"), n_tasks, shots, shots)
    errors = np.mean(tasks.y_query ** 2, axis=(1, 2))  # (T,)
    return dict(mse=float(np.mean(errors)), ci=ci95(errors))


def cell(row, kind="query"):
    """mean ± interval; if some task diverged, the count and the median task instead (on grid points, which
    have no median recorded, the count alone)."""
    if row["diverged"]:
        return diverged_cell(row["diverged"], row["tasks"], row["median_query"] if kind == "query" else None)
    return mean_ci(row["mse_" + kind], row["ci_" + kind])


def short_cell(row):
    """A cell of the first table: the mean to 2 significant digits, or the count diverged and the median task."""
    return diverged_cell(row["diverged"], row["tasks"], row["median_query"]) if row["diverged"] else sig(row["mse_query"])


def verdict(mine, mean, bar=True):
    """met / short by x / short (diverged), judged on the mean over all test tasks."""
    if not bar:
        return "not a bar cell"
    if mine is None:
        return "short (adaptation diverged)"
    return "met" if mine <= mean else f"short by {sig(mine - mean)}"


def trained(run):
    """How a run was meta-trained, in a few words."""
    c = run["config"]
    if run["algorithm"] == "pretrain":
        return f"regression on all tasks; fine-tuned with lr {c['inner_lr']}"
    rate = "initial inner lr" if run["algorithm"] in ("metasgd", "lslr", "enhanced", "imaml") else "inner lr"
    steps = f"{c['inner_steps']} inner {'Newton ' * bool(c.get('newton_cg'))}step{'s' * (c['inner_steps'] > 1)}"
    each = f" ({c['newton_cg']} CG steps each)" if c.get("newton_cg") else ""
    text = f"{steps}{each}, {rate} {c['inner_lr']}"
    extras = [f"reg {c['reg']:g}, {c['cg_steps']} CG steps for the meta-gradient" if run["algorithm"] == "imaml" else "",
              f"{c['n_context']} context numbers" if run["algorithm"] == "cavia" else "",
              f"clip {c['clip']:g}" if c.get("clip") else "",
              f"multi-step loss for {c['msl_iterations']:,} its" if c.get("msl_iterations") else "",
              f"first order for {c['first_order_iterations']:,} its" if c.get("first_order_iterations") else "",
              "cosine meta rate" if c.get("cosine") else ""]
    return ", ".join([text] + [e for e in extras if e])


def chosen_text(chosen):
    """A run's chosen hyperparameters: "inner_lr 0.001, clip 10, first_order_iterations 1/3 of the iterations"."""
    return ", ".join(f"{k} {Fraction(v).limit_denominator(100)} of the iterations" if k in SCHEDULED and v else f"{k} {v:g}"
                     for k, v in chosen.items())


def markdown(table, runs, figures=()):
    rows = table["rows"]
    by = {(r["run"], r["shots"], r["steps"]): r for r in rows}
    n_tasks = " / ".join(sorted({f"{r['tasks']:,}" for r in rows}))
    lines = ["# Few-shot sinusoid regression: every number of the runs", "",
             "Made by `make reproduce` (see `tinymeta/lab/reproduce.py` and `protocol.py`); every number below is read",
             f"from `results/runs/*/result.json`. Mean squared error on K query points of {n_tasks} held-out test tasks,",
             "± the 95% confidence interval 1.96·std/√n (to 2 significant digits, the mean to the same decimal place);",
             "lower is better. In a cell where some task's adaptation *diverged* (query MSE not finite, or above",
             f"{DIVERGED}× its MSE before adapting), the mean says nothing of the typical task, so the cell gives how many",
             "diverged and the median task instead (the mean is in `sinusoid.json`). Learned rates (Meta-SGD, LSLR,",
             "Enhanced) reuse the last trained step's rates past the trained steps. [README.md](README.md) reads them.", ""]
    lines += ["## The published cells", "", *published_lines(rows), "",
              "## Many inner steps", "", *multi_step_lines(rows, runs), ""]
    names = {r["name"]: r for r in runs}
    goals = [(run, k, goal, by.get((run, k, s))) for run, k, s, goal in GOALS]
    if any(row for *_, row in goals):
        lines += ["Goals of our own (not published numbers): the mean after 5 steps at or below the goal, and no test",
                  "task diverged after any of 0 to 10 steps:", ""]
        for run, k, goal, row in goals:
            if row:
                records = names[run]["evaluations"][str(k)]
                first = next((rec for rec in records if rec["diverged"]), None)
                mean = verdict(row["mse_query"], goal)
                lines.append(f"- {run}, {k}-shot: {cell(row)} against {goal}: " + (
                    f"{mean} (no task diverged in 0 to {records[-1]['steps']} steps)" if first is None else
                    f"mean {mean}, but tasks diverge from {first['steps']} steps on ({records[-1]['diverged']} of "
                    f"{records[-1]['tasks']:,} after {records[-1]['steps']}): short"))
        lines.append("")
    if table["paired"]:
        lines += ["## iMAML and CAVIA beside MAML, task by task", "", *paired_lines(table["paired"]), ""]
    for tested in SHOTS:
        lines += [f"## Every run, {tested}-shot test tasks", "",
                  "| run | trained | iterations | 1 step | 5 steps | 10 steps |", "|---|---|---|---|---|---|"]
        for r in runs:
            if str(tested) in r["evaluations"]:
                lines.append(f"| {r['name']} | {trained(r)} | {r['iterations']:,}{' (diverged)' if r.get('diverged') else ''} | "
                             + " | ".join(cell(by[(r['name'], tested, s)]) for s in REPORT_STEPS) + " |")
        lines.append("")
    lines += ["## On 100 grid points of [−5, 5] (the whole curve; less noisy)", "",
              "| run | tested K | 1 step | 5 steps | 10 steps |", "|---|---|---|---|---|"]
    for r in runs:
        for tested in sorted(r["evaluations"], key=int):
            lines.append(f"| {r['name']} | {tested} | "
                         + " | ".join(cell(by[(r['name'], int(tested), s)], "grid") for s in REPORT_STEPS) + " |")
    lines += ["", "## The typical task: median over test tasks", "",
              "The median query MSE (a diverged task counted as infinitely bad), and how many tasks diverged.", "",
              "| run | tested K | 1 step | 5 steps | 10 steps |", "|---|---|---|---|---|"]
    for r in runs:
        for tested in sorted(r["evaluations"], key=int):
            ours = [by[(r["name"], int(tested), s)] for s in REPORT_STEPS]
            lines.append(f"| {r['name']} | {tested} | " + " | ".join(
                sig(o["median_query"]) + (f" ({o['diverged']}/{o['tasks']} diverged)" if o["diverged"] else "")
                for o in ours) + " |")
    lines += ["", "## Hyperparameters chosen on validation tasks", ""]
    for r in runs:
        if r["chosen"]:
            lines.append(f"- {r['name']}: {chosen_text(r['chosen'])} (every candidate's score: `select/{r['name']}.json`)")
    shown = [(f, alt) for f, alt in (("sinusoid-steps.png", "MSE against adaptation steps"),
                                     ("sinusoid-examples.png", "Adaptation examples")) if f in figures]
    if shown:
        lines += ["", "## Figures", ""] + [line for f, alt in shown for line in (f"![{alt}]({f})", "")]
        lines.pop()
    lines += ["", "## Commands", ""] + [f"- `{r['command']}`" for r in runs] + [""]
    commits = sorted({r["commit"] for r in runs})
    protocol = table["protocol"]
    lines += [f"Runs made at code commit{'s' * (len(commits) > 1)} {', '.join(commits)}; "
              f"this table at {protocol['table_commit']}. How long the runs take: [README.md](README.md).", ""]
    return "\n".join(lines)


def glance_lines(table):
    """The first table of results/README.md: predicting 0, then each of GLANCE, after 1 and 5 steps at each K."""
    by = {(r["run"], r["shots"], r["steps"]): r for r in table["rows"]}
    head = " | ".join(f"{k}-shot, {s} step{'s' * (s > 1)}" for k in SHOTS for s in GLANCE_STEPS)
    lines = [f"| algorithm | runs | {head} |", "|---" * (2 + len(SHOTS) * len(GLANCE_STEPS)) + "|"]
    zero = table["predicting_zero"]
    if zero:
        lines.append("| predicting 0 (no model) | | "
                     + " | ".join(sig(zero[str(k)]["mse"]) for k in SHOTS for _ in GLANCE_STEPS) + " |")
    for what, run in GLANCE:
        cells = [by.get((run.format(k=k), k, s)) for k in SHOTS for s in GLANCE_STEPS]
        if any(cells):
            lines.append(f"| {what} | `{run.format(k='*')}` | "
                         + " | ".join(short_cell(c) if c else "" for c in cells) + " |")
    return lines


def published_lines(rows):
    """Every published cell beside ours, as markdown table lines (sinusoid.md and results/README.md show them)."""
    by = {(r["run"], r["shots"], r["steps"]): r for r in rows}
    lines = ["| run | trained K | tested K | steps | published | source | tinymeta | the bar |",
             "|---|---|---|---|---|---|---|---|"]
    for run, shots, steps, mean, ci, source, bar in PUBLISHED:
        ours = by.get((run, shots, steps))
        mark = verdict(ours["mse_query"], mean, bar) if ours else "no run yet"
        lines.append(f"| {run} | {RUNS[run]['shots']} | {shots} | {steps} | {mean}{f' ± {ci}' if ci else ''} | "
                     f"{source} | {cell(ours) if ours else ''} | {mark} |")
    return lines


def multi_step_lines(rows, runs):
    """Trained with one inner step or five (MAML++), Finn et al.'s code setting, iMAML and CAVIA: MSE after 1, 5
    and 10 steps."""
    by = {(r["run"], r["shots"], r["steps"]): r for r in rows}
    names = {r["name"]: r for r in runs}
    lines = ["| run | trained | tested K | 1 step | 5 steps | 10 steps |", "|---|---|---|---|---|---|"]
    for tested in SHOTS:
        for name in (["maml-finn-k10"] + [f"{a}{kind}-k{tested}" for a in MULTI_STEP for kind in ("", "-5step")]
                     + [f"{a}-k{tested}" for a in ("imaml", "cavia")]):
            if name in names and str(tested) in names[name]["evaluations"]:
                lines.append(f"| {name} | {trained(names[name])} | {tested} | "
                             + " | ".join(cell(by[(name, tested, s)]) for s in REPORT_STEPS) + " |")
    return lines


def paired(results, runs):
    """Each run of an algorithm in PAIRED minus each MAML run of AGAINST tested on the same K, task by task on
    the test tasks, after each reported step count (from the runs' meta.npz and config.json): a list of
    {"run", "against", "shots", "cells": [stats.paired_summary, one per step of REPORT_STEPS]}."""
    names, errors, found = {r["name"]: r for r in runs}, {}, []

    def of(name, k, n_tasks):
        if (name, k) not in errors:
            errors[name, k] = per_task_errors(os.path.join(results, "runs", name), k, (0, *REPORT_STEPS), n_tasks)
        return errors[name, k]

    for r in runs:
        k = r["shots"]
        if r["algorithm"] not in PAIRED:
            continue
        for other in dict.fromkeys(a.format(k=k) for a in AGAINST):
            if other in names and str(k) in names[other]["evaluations"]:
                n_tasks = r["evaluations"][str(k)][0]["tasks"]
                found.append(dict(run=r["name"], against=other, shots=k,
                                  cells=paired_row(of(r["name"], k, n_tasks), of(other, k, n_tasks))))
    return found


def paired_lines(pairs):
    """The paired differences as a markdown table, with what they are."""
    lines = ["Every run is tested on the same tasks, so a difference to MAML is taken task by task: mean of",
             "e_run − e_maml ± 1.96·std/√n, negative where the run is better; a task that diverged in either run is",
             "left out of that cell and counted. Each run is set beside every MAML run tested on its K: the papers'",
             "setting (inner lr 0.01, one step: it diverges on a few tasks when its step is repeated), trained with",
             "five inner steps, and Finn et al.'s code setting (inner lr 0.001, trained with K = 10).", "",
             "| run − MAML run | tested K | after 1 step | after 5 steps | after 10 steps |", "|---|---|---|---|---|"]
    for p in pairs:
        lines.append(f"| {p['run']} − {p['against']} | {p['shots']} | " + " | ".join(map(paired_text, p["cells"])) + " |")
    return lines


def regions(table, omniglot=()):
    """The tables of results/README.md, by the name in their markers; `omniglot`: omniglot.json's rows."""
    return {"glance": glance_lines(table), "published": published_lines(table["rows"]),
            "paired": paired_lines(table["paired"]), "omniglot": omniglot_report.glance_lines(omniglot)}


def fill(text, table, omniglot=()):
    """results/README.md's text with each `<!-- report: NAME -->` ... `<!-- /report -->` region written anew."""
    made = regions(table, omniglot)

    def region(match):
        if match.group(2) not in made:
            raise ValueError(f"results/README.md: no table named {match.group(2)!r} (report.regions has "
                             f"{', '.join(made)})")
        return match.group(1) + "\n".join(made[match.group(2)]) + "\n" + match.group(3)
    return REGION.sub(region, text)
