"""Every figure under results/, drawn anew from the committed files alone (each run's result.json, config.json
and meta.npz): error against adaptation steps, the fraction of test tasks diverged, a few test tasks' fits, and
for each run that meta-learns rates or curvature, what it learned (plot.py's figure, without the training curve,
whose history the committed files do not keep).

`every(results, runs)` says what would be drawn, {path under results: a function returning the Figure}; `draw`
saves them, each PNG holding a digest of what it draws (pictures.save), which tests/test_figures.py compares
with what `every` draws now.
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from tinymeta import mlp, sinusoid  # noqa: E402
from tinymeta.lab import checkpoint, pictures, plot, train  # noqa: E402
from tinymeta.lab.protocol import PUBLISHED, SHOTS, TEST_SEED  # noqa: E402
from tinymeta.lab.registry import ALGORITHMS  # noqa: E402

EXAMPLES = ("pretrain-k10", "maml-k10", "maml-finn-k10", "enhanced-5step-k10")
# The panels of sinusoid-steps.png, a row each, one column per tested K: the runs ("{k}" is the tested K).
PANELS = [
    ("trained with one step, as in the papers", ["pretrain-k{k}", "maml-k{k}", "fomaml-k{k}", "reptile-k{k}", "anil-k{k}"]),
    ("learned rates, curvature; one step", ["metasgd-k{k}", "lslr-k{k}", "metacurvature-k{k}", "enhanced-k{k}"]),
    ("trained with five inner steps (MAML++)", ["maml-5step-k{k}", "lslr-5step-k{k}", "metacurvature-5step-k{k}",
                                                "enhanced-5step-k{k}"]),
    ("iMAML and CAVIA beside MAML", ["maml-k{k}", "maml-5step-k{k}", "imaml-k{k}", "cavia-k{k}"]),
    ("trained K = 10, inner lr 0.01 or 0.001 (-finn)", ["maml-k10", "maml-finn-k10", "pretrain-k10", "pretrain-finn-k10"]),
]
COLORS = plt.cm.tab10.colors  # ten colours no two of which look alike
FLOOR, TOP = 1e-3, 10.0  # the error axis


def every(results, runs):
    """{path under `results`: a function drawing that figure}, for every figure this module draws."""
    made = {"sinusoid-steps.png": lambda: steps(runs)}
    if any(os.path.exists(os.path.join(results, "runs", n, "meta.npz")) for n in EXAMPLES):
        made["sinusoid-examples.png"] = lambda: examples(results)
    for r in runs:
        run_dir = os.path.join(results, "runs", r["name"])
        if os.path.exists(os.path.join(run_dir, "meta.npz")) and plot.meta_sections(checkpoint.load_meta(run_dir)[1]):
            made[f"figures/{r['name']}.png"] = lambda name=r["name"]: run_figure(results, name)
    return made


def draw(results, runs):
    """Draw and save every figure of `every`; returns their paths under `results`."""
    made = every(results, runs)
    os.makedirs(os.path.join(results, "figures"), exist_ok=True)
    for path, make in made.items():
        pictures.save(make(), os.path.join(results, path), dpi=90)
    return sorted(made)


def curve(run, k):
    """A run's records on K-shot test tasks: steps, the mean query MSE, the median, the fraction diverged."""
    records = run["evaluations"][str(k)]
    mean = np.array([np.nan if x["mse_query"] is None else x["mse_query"] for x in records])
    return (np.array([x["steps"] for x in records]), mean, np.array([x["median_query"] for x in records], float),
            np.array([x["diverged"] / x["tasks"] for x in records]))


def label(name, k):
    return name if name.endswith(f"-k{k}") else f"{name}, tested {k}-shot"


def colours(names, assigned):
    """A colour for each of `names` that no other name in the panel shares; a name keeps its colour from an
    earlier panel (`assigned`, updated) when it is free."""
    used, found = set(), {}
    for name in names:
        if assigned.get(name) is not None and assigned[name] not in used:
            found[name] = assigned[name]
            used.add(found[name])
    for name in names:
        if name not in found:
            found[name] = next(c for c in COLORS if c not in used)
            used.add(found[name])
            assigned.setdefault(name, found[name])
    return found


def steps(runs):
    """Query MSE against adaptation steps, a row of panels per family of runs (PANELS), a column per tested K,
    and last the fraction of test tasks diverged. A run's curve is its mean while no task diverged and its
    median task (dotted) from the first step on which some did: there the mean says nothing of the typical task."""
    by = {r["name"]: r for r in runs}
    fig, axes = plt.subplots(len(PANELS) + 1, len(SHOTS), figsize=(14, 2.9 * (len(PANELS) + 1)), sharex=True,
                             squeeze=False)
    assigned = {}
    for row, (title, names) in enumerate(PANELS):
        for col, k in enumerate(SHOTS):
            ax = axes[row, col]
            shown = [n.format(k=k) for n in names]
            shown = [n for n in dict.fromkeys(shown) if n in by and str(k) in by[n]["evaluations"]]
            colour = colours([label(n, k) for n in shown], assigned)
            for name in shown:
                s, mean, median, diverged = curve(by[name], k)
                first = int(np.argmax(diverged > 0)) if np.any(diverged > 0) else len(s)
                c = colour[label(name, k)]
                ax.plot(s[:first], mean[:first], ".-", color=c, label=label(name, k))
                if first < len(s):
                    ax.plot(s[max(first - 1, 0):], np.where(np.arange(len(s)) < first, mean, median)[max(first - 1, 0):],
                            "o:", mfc="none", ms=4, color=c)
            if row == len(PANELS) - 1 and k == 5:
                published(ax)
            ax.set(yscale="log", ylim=(FLOOR, TOP), title=f"{k}-shot test tasks; {title}")
            ax.grid(alpha=0.3)
            if ax.has_data():
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    for col, k in enumerate(SHOTS):
        diverged_panel(axes[-1, col], runs, k, assigned)
    for ax in axes[-1]:
        ax.set_xlabel("adaptation steps at test time")
    for ax in axes[:-1, 0]:
        ax.set_ylabel("MSE on K query points")
    fig.suptitle("Sinusoid regression: mean error on the test tasks against adaptation steps; dotted, the median task "
                 "once some tasks diverged\n(a task diverged: its error is over 100 times its error before adapting, or "
                 "not finite)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    return fig


def published(ax):
    """Finn et al.'s published 5-shot cells of the K = 10 models, as crosses."""
    cells = sorted({(steps, mean) for run, k, steps, mean, _, source, _ in PUBLISHED if k == 5 and "Finn" in source})
    ax.plot(*zip(*cells), "kx", ms=7, label="published (Finn et al. 2017)")


def diverged_panel(ax, runs, k, assigned):
    """The fraction of K-shot test tasks diverged against steps, for every run with a diverged task, from its
    first diverged step on (a log axis has no 0)."""
    shown = [r for r in runs if str(k) in r["evaluations"] and any(x["diverged"] for x in r["evaluations"][str(k)])]
    colour = colours([label(r["name"], k) for r in shown], assigned)
    for r in shown:
        s, _, _, diverged = curve(r, k)
        first = int(np.argmax(diverged > 0))
        ax.plot(s[max(first - 1, 0):], np.maximum(diverged, 1e-4)[max(first - 1, 0):], ".-", color=colour[label(r["name"], k)],
                label=label(r["name"], k))
    ax.set(yscale="log", ylim=(5e-4, 1), ylabel="fraction of tasks diverged",
           title=f"{k}-shot test tasks; the tasks whose adaptation diverged")
    ax.grid(alpha=0.3)
    if shown:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def examples(results, names=EXAMPLES, n_tasks=3):
    """Predictions before adapting and after 1 and 10 steps on the same 10-shot test tasks, one row per run
    of `names` that has a meta.npz, the true function on top."""
    dirs = [os.path.join(results, "runs", n) for n in names]
    dirs = [d for d in dirs if os.path.exists(os.path.join(d, "meta.npz"))]
    tasks = sinusoid.sample_tasks(train.task_stream(TEST_SEED, "evaluate"), n_tasks, 10, 10)
    grid = np.linspace(-5, 5, 200)[None, :, None].repeat(n_tasks, axis=0)  # (T, 200, 1)
    fig, axes = plt.subplots(len(dirs), n_tasks, figsize=(3.6 * n_tasks, 2.5 * len(dirs)), squeeze=False,
                             sharex=True, sharey=True)
    for row, d in zip(axes, dirs):
        config, meta = checkpoint.load_meta(d)
        for s, style, colour in ((0, ":", "tab:gray"), (1, "--", "tab:blue"), (10, "-", "tab:orange")):
            pred = mlp.predict(ALGORITHMS[config["algorithm"]].adapt(meta, tasks.x_support, tasks.y_support, config, s),
                               grid)
            for t, ax in enumerate(row):
                ax.plot(grid[t, :, 0], pred[t, :, 0], style, color=colour, lw=2,
                        label="before adapting" if s == 0 else f"after {s} step{'s' * (s > 1)}")
        for t, ax in enumerate(row):
            ax.plot(grid[t, :, 0], sinusoid.sine(tasks.amplitude, tasks.phase, grid)[t, :, 0], color="k", lw=1,
                    label="true function", zorder=3)  # on top of the predictions
            ax.plot(tasks.x_support[t, :, 0], tasks.y_support[t, :, 0], "^", color="tab:purple",
                    label="10 support points", zorder=4)
            ax.set_ylim(-6, 6)
        row[0].set_ylabel(f"{os.path.basename(d)}\ny")
    for t, ax in enumerate(axes[0]):
        ax.set_title(f"test task {t + 1}: A = {tasks.amplitude[t]:.2f}, phase = {tasks.phase[t]:.2f}", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def run_figure(results, name):
    """plot.py's figure of a run, from its meta.npz, on the first test tasks (no training curve: the committed
    files do not keep the history)."""
    config, meta = checkpoint.load_meta(os.path.join(results, "runs", name))
    return plot.draw(meta, ALGORITHMS[config["algorithm"]], config, None, train.task_stream(TEST_SEED, "evaluate"))
