"""The results of `make reproduce` as tables: results/sinusoid.json and results/sinusoid.md.

Everything here is read from results/runs/*/result.json (and, for the paired differences, the runs'
meta.npz); no number is typed in by hand except the published ones in protocol.py. The figures the
markdown shows are figures.py's; the statistics and number formats are stats.py's.
"""
import glob
import json
import os

from tinymeta.lab import train
from tinymeta.lab.checkpoint import commit, write_json
from tinymeta.lab.evaluate import DIVERGED
from tinymeta.lab.protocol import GOALS, MULTI_STEP, PUBLISHED, REPORT_STEPS, RUNS, SHOTS
from tinymeta.lab.stats import number, paired_row, per_task_errors

KEYS = ("mse_query", "ci_query", "median_query", "diverged", "tasks", "mse_grid", "ci_grid")


def write(results, runs, have_examples):
    """results/sinusoid.json and sinusoid.md from the runs (as `load` gives them); have_examples: whether
    figures.examples drew sinusoid-examples.png, for the markdown to show it."""
    table, text = tables(results, runs, have_examples, commit())
    write_json(os.path.join(results, "sinusoid.json"), table)
    with open(os.path.join(results, "sinusoid.md"), "w") as f:
        f.write(text)


def tables(results, runs, have_examples, table_commit):
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
                    wall_seconds=wall_seconds(runs), table_commit=table_commit)
    return dict(protocol=protocol, rows=rows), markdown(rows, runs, protocol, have_examples, paired_lines(results, runs))


def load(results):
    """Every finished run's result.json, in the order of protocol.RUNS (with its config.json if it lacks one)."""
    runs = []
    for path in glob.glob(os.path.join(results, "runs", "*", "result.json")):
        with open(path) as f:
            r = json.load(f)
        if "config" not in r:
            with open(os.path.join(os.path.dirname(path), "config.json")) as f:
                r["config"] = json.load(f)
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


def wall_seconds(runs):
    return round(max(r["finished"] for r in runs) - min(r["started"] for r in runs)) if runs else 0


def cell(row, kind="query"):
    """mean ± interval; on query points, if some task diverged, how many and the median beside it."""
    text = f"{number(row['mse_' + kind])} ± {number(row['ci_' + kind])}"
    if kind == "query" and row["diverged"]:
        text += f" ({row['diverged']} of {row['tasks']:,} diverged; median {number(row['median_query'])})"
    return text


def verdict(mine, mean, bar=True):
    """met / short by x / short (diverged), judged on the mean over all test tasks."""
    if not bar:
        return "not a bar cell"
    if mine is None:
        return "short (adaptation diverged)"
    return "met" if mine <= mean else f"short by {number(mine - mean)}"


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


def markdown(rows, runs, protocol, have_examples, paired=()):
    by = {(r["run"], r["shots"], r["steps"]): r for r in rows}
    n_tasks = " / ".join(sorted({f"{r['tasks']:,}" for r in rows}))
    lines = ["# Few-shot sinusoid regression: tinymeta beside the published numbers", "",
             "Made by `make reproduce` (see `tinymeta/lab/reproduce.py` and `protocol.py`); every number below is read",
             f"from `results/runs/*/result.json`. Mean squared error on K query points of {n_tasks} held-out test tasks,",
             "± the 95% confidence interval 1.96·std/√n; lower is better. A task whose adaptation *diverged* (query",
             f"MSE not finite, or above {DIVERGED}× its MSE before adapting) is counted beside the mean, with the median",
             "task; `nan` is a mean that is not a finite number. Learned rates (Meta-SGD, LSLR, Enhanced) reuse the last",
             "trained step's rates past the trained steps.", ""]
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
    if paired:
        lines += ["## iMAML and CAVIA beside MAML, task by task", "",
                  "Neither paper reports this protocol, so these rows are reported, not held to a bar. Every run is tested",
                  "on the same tasks, so the difference to MAML (trained with the same K, the papers' setting) is taken task",
                  "by task: mean of e_run − e_maml ± 1.96·std/√n, negative where the run is better; a task that diverged in",
                  "either run is left out of that cell and counted.", "",
                  "| run | tested K | after 1 step | after 5 steps | after 10 steps |", "|---|---|---|---|---|",
                  *paired, ""]
    for tested in SHOTS:
        lines += [f"## Every run, {tested}-shot test tasks", "",
                  "| run | trained | iterations | 1 step | 5 steps | 10 steps |", "|---|---|---|---|---|---|"]
        for r in runs:
            if str(tested) in r["evaluations"]:
                lines.append(f"| {r['name']} | {trained(r)} | {r['iterations']}{' (diverged)' if r.get('diverged') else ''} | "
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
            lines.append(f"| {r['name']} | {tested} | "
                         + " | ".join(f"{number(o['median_query'])} ({o['diverged']} diverged)" for o in ours) + " |")
    lines += ["", "## Hyperparameters chosen on validation tasks", ""]
    for r in runs:
        if r["chosen"]:
            lines.append(f"- {r['name']}: {r['chosen']} (every candidate's score: `select/{r['name']}.json`)")
    lines += ["", "## Figures", "", "![MSE against adaptation steps](sinusoid-steps.png)", ""]
    if have_examples:
        lines += ["![Adaptation examples](sinusoid-examples.png)", ""]
    lines += ["## Commands", ""] + [f"- `{r['command']}`" for r in runs] + [""]
    commits = sorted({r["commit"] for r in runs})
    lines += [f"Runs made at code commit{'s' * (len(commits) > 1)} {', '.join(commits)}; "
              f"this table at {protocol['table_commit']}. From the first start to the last finish of the runs: "
              f"{protocol['wall_seconds'] / 3600:.1f} h (pauses between sessions included).", ""]
    return "\n".join(lines)


def published_lines(rows):
    """Every published cell beside ours, as markdown table lines (sinusoid.md and the README show them)."""
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


def paired_lines(results, runs, against="maml", of=("imaml", "cavia")):
    """Markdown rows: each run of an algorithm in `of` minus MAML's run of the same K, task by task on the test
    tasks, after each reported step count (from the runs' meta.npz and config.json); a task that diverged in either
    run (evaluate's rule) is left out of that cell and counted."""
    names, lines = {r["name"] for r in runs}, []
    for r in runs:
        other = f"{against}-k{r['shots']}"
        if r["algorithm"] not in of or other not in names:
            continue
        cells = paired_row(*[per_task_errors(os.path.join(results, "runs", n), r["shots"], (0, *REPORT_STEPS),
                                             r["evaluations"][str(r["shots"])][0]["tasks"]) for n in (r["name"], other)])
        lines.append(f"| {r['name']} − {other} | {r['shots']} | " + " | ".join(cells) + " |")
    return lines
