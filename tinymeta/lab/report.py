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
from tinymeta.lab.protocol import ALGORITHMS, BAR, PUBLISHED, REPORT_STEPS, SHOTS  # noqa: E402
from tinymeta.lab.registry import ALGORITHMS as REGISTRY  # noqa: E402

KEYS = ("mse_query", "ci_query", "mse_grid", "ci_grid", "tasks", "median_query")


def write(results):
    runs = load(results)
    rows = [dict(algorithm=r["algorithm"], shots=int(tested), train_shots=r["shots"], steps=rec["steps"],
                 **{k: rec[k] for k in KEYS}, iterations=r["iterations"], seed=r["seed"], command=r["command"],
                 commit=r["commit"])
            for r in runs for tested, records in sorted(r["evaluations"].items(), key=lambda kv: int(kv[0]))
            for rec in records if rec["steps"] in REPORT_STEPS]
    protocol = dict(task_family="y = A sin(x - phase), A ~ U[0.1, 5], phase ~ U[0, pi], x ~ U[-5, 5] (Finn et al. 2017)",
                    model="MLP 1-40-40-1 ReLU", meta_batch=train.DEFAULTS["meta_batch"],
                    test_tasks="evaluate stream of seed 1 (python -m tinymeta evaluate)",
                    validation_tasks="validation stream of seed 0, for the hyperparameters in results/select",
                    metric="mean MSE on K query points and on 100 grid points of [-5, 5], with 1.96 std / sqrt(n)",
                    wall_seconds=wall_seconds(runs), table_commit=commit())
    write_json(os.path.join(results, "sinusoid.json"), dict(protocol=protocol, rows=rows))
    export(results, runs)
    steps_figure(runs, os.path.join(results, "sinusoid-steps.png"))
    have_examples = examples_figure(results, os.path.join(results, "sinusoid-examples.png"))
    with open(os.path.join(results, "sinusoid.md"), "w") as f:
        f.write(markdown(rows, runs, protocol, have_examples))


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
    runs = []
    for path in sorted(glob.glob(os.path.join(results, "runs", "*", "result.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    order = {a: i for i, a in enumerate(ALGORITHMS)}
    return sorted(runs, key=lambda r: (order.get(r["algorithm"], 99), r["shots"]))


def wall_seconds(runs):
    return round(max(r["finished"] for r in runs) - min(r["started"] for r in runs)) if runs else 0


def number(value):
    """3 decimals; scientific notation for the huge errors of an adaptation that diverged."""
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.1e}"  # nan and inf print as themselves


def cell(row, kind="query"):
    return f"{number(row['mse_' + kind])} ± {number(row['ci_' + kind])}"


def markdown(rows, runs, protocol, have_examples):
    by = {(r["algorithm"], r["train_shots"], r["shots"], r["steps"]): r for r in rows}
    n_tasks = " / ".join(sorted({f"{r['tasks']:,}" for r in rows}))
    lines = ["# Few-shot sinusoid regression: tinymeta beside the published numbers", "",
             "Made by `make reproduce` (see `tinymeta/lab/reproduce.py`); every number below is read from",
             f"`results/runs/*/result.json`. Mean squared error on K query points of {n_tasks} held-out test tasks,",
             "± the 95% confidence interval 1.96·std/√n; lower is better. "
             f"Wall time of all runs: {protocol['wall_seconds'] / 3600:.1f} h.", ""]
    lines += ["## The published cells", "", *published_lines(rows), ""]
    for tested in SHOTS:
        lines += [f"## {tested}-shot", "",
                  "| algorithm | trained K | iterations | 1 step | 5 steps | 10 steps | published | bar |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in runs:
            if str(tested) not in r["evaluations"]:
                continue
            ours = [by.get((r["algorithm"], r["shots"], tested, s)) for s in REPORT_STEPS]
            published, bar = [], []
            for s in REPORT_STEPS:
                for mean, ci, source in PUBLISHED.get((r["algorithm"], r["shots"], tested, s), []):
                    published.append(f"{s} step{'s' * (s > 1)}: {mean}{f' ± {ci}' if ci else ''} ({source})")
                    if r["algorithm"] in BAR[0] and source in BAR[1]:
                        mine = by[(r["algorithm"], r["shots"], tested, s)]["mse_query"]
                        bar.append(f"{s}: met" if mine <= mean else f"{s}: short by {number(mine - mean)}"
                                   if np.isfinite(mine) else f"{s}: short (adaptation diverged)")
            lines.append(f"| {r['algorithm']} | {r['shots']} | {r['iterations']}"
                         f"{' (diverged)' if r.get('diverged') else ''} | "
                         + " | ".join(cell(o) if o else "" for o in ours)
                         + f" | {'<br>'.join(published)} | {', '.join(bar)} |")
        lines.append("")
    lines += ["## On 100 grid points of [−5, 5] (the whole curve; less noisy)", "",
              "| algorithm | K | 1 step | 10 steps |", "|---|---|---|---|"]
    for r in runs:
        k = str(r["shots"])
        g = {rec["steps"]: rec for rec in r["evaluations"][k]}
        lines.append(f"| {r['algorithm']} | {k} | {cell(g[1], 'grid')} | {cell(g[10], 'grid')} |")
    lines += ["", "## The typical task: median over test tasks", "",
              f"Adaptation that diverges on a few of the {n_tasks} test tasks makes the mean huge or nan; the median",
              "query MSE (a diverged task counted as infinitely bad) shows the typical task. The bar is judged on the mean.",
              "",
              "| algorithm | trained K | tested K | 1 step | 5 steps | 10 steps |", "|---|---|---|---|---|---|"]
    for r in runs:
        for tested in sorted(r["evaluations"], key=int):
            ours = [by[(r["algorithm"], r["shots"], int(tested), s)] for s in REPORT_STEPS]
            lines.append(f"| {r['algorithm']} | {r['shots']} | {tested} | "
                         + " | ".join(number(o["median_query"]) for o in ours) + " |")
    lines += ["", "## Hyperparameters chosen on validation tasks", ""]
    for r in runs:
        if r["chosen"]:
            lines.append(f"- {r['algorithm']}, K = {r['shots']}: {r['chosen']} (see `select/{r['name']}.json`)")
    lines += ["", "## Figures", "", "![MSE against adaptation steps](sinusoid-steps.png)", ""]
    if have_examples:
        lines += ["![Adaptation examples](sinusoid-examples.png)", ""]
    lines += ["## Commands", ""] + [f"- `{r['command']}`" for r in runs] + [""]
    commits = sorted({r["commit"] for r in runs})
    lines += [f"Runs made at code commit{'s' * (len(commits) > 1)} {', '.join(commits)}; "
              f"this table at {protocol['table_commit']}.", ""]
    return "\n".join(lines)


def published_lines(rows):
    """Every published cell beside ours, as markdown table lines (sinusoid.md and the README show them)."""
    by = {(r["algorithm"], r["train_shots"], r["shots"], r["steps"]): r for r in rows}
    lines = ["| algorithm | trained K | tested K | steps | published | source | tinymeta | median | the bar |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (algorithm, train_shots, shots, steps), published in PUBLISHED.items():
        ours = by.get((algorithm, train_shots, shots, steps))
        for mean, ci, source in published:
            if algorithm not in BAR[0] or source not in BAR[1]:
                verdict = "not a bar cell"
            elif ours is None:
                verdict = "no run yet"
            else:
                verdict = "met" if ours["mse_query"] <= mean else "short"  # a nan mean is short
            lines.append(f"| {algorithm} | {train_shots} | {shots} | {steps} | {mean}{f' ± {ci}' if ci else ''} | "
                         f"{source} | {cell(ours) if ours else ''} | {number(ours['median_query']) if ours else ''} | "
                         f"{verdict} |")
    return lines


def steps_figure(runs, path):
    fig, axes = plt.subplots(1, len(SHOTS), figsize=(11, 4), sharey=True)
    for ax, k in zip(np.atleast_1d(axes), SHOTS):
        for r in runs:
            if r["shots"] == k and str(k) in r["evaluations"]:
                records = r["evaluations"][str(k)]
                mse = np.array([x["mse_query"] for x in records])
                ax.plot([x["steps"] for x in records], np.where(np.isfinite(mse), np.minimum(mse, 1e3), 1e3),
                        marker=".", label=r["algorithm"], color=f"C{ALGORITHMS.index(r['algorithm'])}")  # diverged: off the top
        ax.set(title=f"{k}-shot test tasks (a curve that leaves the top diverged)", xlabel="adaptation steps",
               yscale="log", ylim=(0.03, 5))
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("MSE on K query points")
    for ax in np.atleast_1d(axes):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def examples_figure(results, path, names=("pretrain-k10", "maml-k10", "metasgd-k10", "enhanced-k10"), n_tasks=3):
    """Predictions after 0, 1 and 10 steps on the same test tasks, one row per run (from NAME/meta.npz)."""
    dirs = [os.path.join(results, "runs", n) for n in names]
    dirs = [d for d in dirs if os.path.exists(os.path.join(d, "meta.npz"))]
    if not dirs:
        return False
    tasks = sinusoid.sample_tasks(train.task_stream(1, "evaluate"), n_tasks, 10, 10)
    grid = np.linspace(-5, 5, 200)[None, :, None].repeat(n_tasks, axis=0)  # (T, 200, 1)
    fig, axes = plt.subplots(len(dirs), n_tasks, figsize=(3.3 * n_tasks, 2.4 * len(dirs)), squeeze=False)
    for row, d in zip(axes, dirs):
        with open(os.path.join(d, "config.json")) as f:
            config = json.load(f)
        with np.load(os.path.join(d, "meta.npz")) as npz:
            meta = checkpoint.unleaves(dict(npz), "meta")
        for steps, style in ((0, ":"), (1, "--"), (10, "-")):
            fast = REGISTRY[config["algorithm"]].adapt(meta, tasks.x_support, tasks.y_support, config, steps)
            pred = mlp.predict(fast, grid)
            for t, ax in enumerate(row):
                ax.plot(grid[t, :, 0], pred[t, :, 0], style, color="C1", label=f"{steps} steps")
        for t, ax in enumerate(row):
            ax.plot(grid[t, :, 0], sinusoid.sine(tasks.amplitude, tasks.phase, grid)[t, :, 0], color="k", lw=1,
                    label="true")
            ax.plot(tasks.x_support[t, :, 0], tasks.y_support[t, :, 0], "^", color="C0", label="support")
            ax.set_ylim(-6, 6)
        row[0].set_ylabel(config["algorithm"])
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
