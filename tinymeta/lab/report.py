"""The results of `make reproduce` as results/sinusoid.json, results/sinusoid.md and two figures.

Everything here is computed from results/runs/*/result.json (and, for the adaptation examples,
the runs' checkpoints); no number is typed in by hand except the published ones in protocol.py.
"""
import glob
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from tinymeta import mlp, sinusoid  # noqa: E402
from tinymeta.lab import checkpoint, plot, train  # noqa: E402
from tinymeta.lab.checkpoint import commit, write_json  # noqa: E402
from tinymeta.lab.evaluate import DIVERGED  # noqa: E402
from tinymeta.lab.protocol import GOALS, MULTI_STEP, PUBLISHED, REPORT_STEPS, RUNS, SHOTS, TEST_SEED  # noqa: E402
from tinymeta.lab.registry import ALGORITHMS as REGISTRY  # noqa: E402

KEYS = ("mse_query", "ci_query", "median_query", "diverged", "tasks", "mse_grid", "ci_grid")


def write(results):
    """results/sinusoid.json, sinusoid.md and the figures, from results/runs/*/result.json."""
    runs = load(results)
    rows = table_rows(runs)
    protocol = dict(task_family="y = A sin(x - phase), A ~ U[0.1, 5], phase ~ U[0, pi], x ~ U[-5, 5] (Finn et al. 2017)",
                    model="MLP 1-40-40-1 ReLU", meta_batch=train.DEFAULTS["meta_batch"],
                    test_tasks="evaluate stream of seed 1 (python -m tinymeta evaluate)",
                    validation_tasks="validation stream of seed 0, for the hyperparameters in results/select",
                    metric="mean MSE on K query points and on 100 grid points of [-5, 5], with 1.96 std / sqrt(n)",
                    diverged=f"tasks whose query MSE is not finite or above {DIVERGED}x their MSE before adapting",
                    null="a mean, interval or median that is not a finite number (some task diverged)",
                    inner_lr="the run's inner learning rate; for learned rates (metasgd, lslr, enhanced) the initial one",
                    wall_seconds=wall_seconds(runs), table_commit=commit())
    write_json(os.path.join(results, "sinusoid.json"), dict(protocol=protocol, rows=rows))
    export(results, runs)
    steps_figure(runs, os.path.join(results, "sinusoid-steps.png"))
    have_examples = examples_figure(results, os.path.join(results, "sinusoid-examples.png"))
    with open(os.path.join(results, "sinusoid.md"), "w") as f:
        f.write(markdown(rows, runs, protocol, have_examples, paired_lines(results, runs)))


def export(results, runs, learned=("metasgd", "lslr", "metacurvature", "enhanced")):
    """From each run's checkpoint (not committed: it holds optimizer state and history): NAME/meta.npz, the
    meta-parameters alone (load with checkpoint.unleaves(np.load(path), "meta")), and for runs that learn
    rates or curvature, figures/NAME.png drawn by `python -m tinymeta plot`."""
    for r in runs:
        run_dir = os.path.join(results, "runs", r["name"])
        figure = os.path.join(results, "figures", r["name"] + ".png")
        if not os.path.exists(os.path.join(run_dir, "checkpoint.npz")) or (
                os.path.exists(os.path.join(run_dir, "meta.npz")) and (r["algorithm"] not in learned or
                                                                       os.path.exists(figure))):
            continue  # made already (checkpoints are not committed: what they gave is)
        config, state, entry = train.load(run_dir)
        if not os.path.exists(os.path.join(run_dir, "meta.npz")):  # npz files hold their time of writing
            np.savez(os.path.join(run_dir, "meta.npz"), **checkpoint.leaves(state["meta"], "meta"))
        if r["algorithm"] in learned:
            os.makedirs(os.path.join(results, "figures"), exist_ok=True)
            plot.figure(state["meta"], entry, config, state["history"], train.task_stream(1, "evaluate"), figure)


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


def number(value):
    """3 decimals (2 significant digits below 0.01); scientific notation for the huge errors of an adaptation
    that diverged; None is nan."""
    if value is None:
        return "nan"
    if abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.1e}"


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


def steps_figure(runs, path):
    """Query MSE against adaptation steps: top, the runs trained as in the papers; below, with five inner steps
    (MAML++) and in Finn et al.'s code setting. One colour per algorithm; a curve that leaves the top diverged."""
    fig, axes = plt.subplots(2, len(SHOTS), figsize=(12, 7.5), sharex=True, sharey=True, squeeze=False)
    for col, k in enumerate(SHOTS):
        for r in runs:
            if str(k) not in r["evaluations"]:
                continue
            records = r["evaluations"][str(k)]
            mse = np.array([np.inf if x["mse_query"] is None else x["mse_query"] for x in records])
            axes[int("-5step" in r["name"] or "-finn" in r["name"]), col].plot([x["steps"] for x in records], np.minimum(mse, 1e3), marker=".",  # diverged: off the top
                                      ls="--" if r["shots"] != k else "-", label=r["name"],
                                      color=plt.cm.tab20(list(REGISTRY).index(r["algorithm"])))
        for row, trained_with in enumerate(("as in the papers", "with 5 inner steps, or lr 0.001 (-finn)")):
            ax = axes[row, col]
            ax.set(title=f"{k}-shot test tasks; trained {trained_with}", yscale="log", ylim=(1e-3, 5))
            ax.grid(alpha=0.3)
            if ax.has_data():
                ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    for ax in axes[-1]:
        ax.set_xlabel("adaptation steps at test time")
    for ax in axes[:, 0]:
        ax.set_ylabel("mean MSE on K query points")
    fig.suptitle("Sinusoid regression: error against adaptation steps (dashed: trained with K = 10, tested 5-shot;"
                 " off the top: diverged)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def paired_lines(results, runs, against="maml", of=("imaml", "cavia")):
    """Markdown rows: each run of an algorithm in `of` minus MAML's run of the same K, task by task on the test
    tasks, after each reported step count (from the runs' meta.npz and config.json); a task that diverged in either
    run (evaluate's rule) is left out of that cell and counted."""
    names, lines = {r["name"] for r in runs}, []
    for r in runs:
        other = f"{against}-k{r['shots']}"
        if r["algorithm"] not in of or other not in names:
            continue
        (before, *mine), (before_other, *theirs) = [
            per_task_errors(os.path.join(results, "runs", n), r["shots"], (0, *REPORT_STEPS),
                            r["evaluations"][str(r["shots"])][0]["tasks"]) for n in (r["name"], other)]
        cells = [paired_cell(a, b, before, before_other) for a, b in zip(mine, theirs)]
        lines.append(f"| {r['name']} − {other} | {r['shots']} | " + " | ".join(cells) + " |")
    return lines


def paired_cell(mine, theirs, mine_before, theirs_before):
    """"mean ± 95% half-width" of mine - theirs, per-task errors (n,), over the tasks that diverged in neither run
    (evaluate's rule, against each run's own errors before adapting); how many were left out is said."""
    kept = (mine <= DIVERGED * mine_before) & (theirs <= DIVERGED * theirs_before)  # False for nan and inf too
    d = mine[kept] - theirs[kept]
    text = f"{number(float(np.mean(d)))} ± {number(float(1.96 * np.std(d, ddof=1) / np.sqrt(len(d))))}" if len(d) > 1 else "n/a"
    return text + (f" ({np.sum(~kept)} diverged tasks left out)" if np.any(~kept) else "")


def per_task_errors(run_dir, shots, steps, n_tasks):
    """Query MSE of every test task after each step count in `steps`: a list of (n_tasks,) arrays."""
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    with np.load(os.path.join(run_dir, "meta.npz")) as npz:
        meta = checkpoint.unleaves(dict(npz), "meta")
    tasks = sinusoid.sample_tasks(train.task_stream(TEST_SEED, "evaluate"), n_tasks, shots, shots)
    with np.errstate(all="ignore"):
        return [mlp.mse(REGISTRY[config["algorithm"]].adapt(meta, tasks.x_support, tasks.y_support, config, s),
                        tasks.x_query, tasks.y_query) for s in steps]


def examples_figure(results, path, names=("pretrain-k10", "maml-k10", "maml-finn-k10", "enhanced-5step-k10"),
                    n_tasks=3):
    """Predictions before adapting and after 1 and 10 steps on the same 10-shot test tasks, one row per run
    (from NAME/meta.npz and config.json, which are committed)."""
    dirs = [os.path.join(results, "runs", n) for n in names]
    dirs = [d for d in dirs if os.path.exists(os.path.join(d, "meta.npz"))]
    if not dirs:
        return False
    tasks = sinusoid.sample_tasks(train.task_stream(1, "evaluate"), n_tasks, 10, 10)
    grid = np.linspace(-5, 5, 200)[None, :, None].repeat(n_tasks, axis=0)  # (T, 200, 1)
    fig, axes = plt.subplots(len(dirs), n_tasks, figsize=(3.6 * n_tasks, 2.5 * len(dirs)), squeeze=False,
                             sharex=True, sharey=True)
    for row, d in zip(axes, dirs):
        with open(os.path.join(d, "config.json")) as f:
            config = json.load(f)
        with np.load(os.path.join(d, "meta.npz")) as npz:
            meta = checkpoint.unleaves(dict(npz), "meta")
        for steps, style in ((0, ":"), (1, "--"), (10, "-")):
            fast = REGISTRY[config["algorithm"]].adapt(meta, tasks.x_support, tasks.y_support, config, steps)
            pred = mlp.predict(fast, grid)
            for t, ax in enumerate(row):
                ax.plot(grid[t, :, 0], pred[t, :, 0], style, color="C1",
                        label="before adapting" if steps == 0 else f"after {steps} step{'s' * (steps > 1)}")
        for t, ax in enumerate(row):
            ax.plot(grid[t, :, 0], sinusoid.sine(tasks.amplitude, tasks.phase, grid)[t, :, 0], color="k", lw=1,
                    label="true function")
            ax.plot(tasks.x_support[t, :, 0], tasks.y_support[t, :, 0], "^", color="C0", label="10 support points")
            ax.set_ylim(-6, 6)
        row[0].set_ylabel(f"{os.path.basename(d)}\ny")
    for t, ax in enumerate(axes[0]):
        ax.set_title(f"test task {t + 1}: A = {tasks.amplitude[t]:.2f}, phase = {tasks.phase[t]:.2f}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
