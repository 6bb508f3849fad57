"""The two figures of results/sinusoid.md: error against adaptation steps for every run, and a few test
tasks' fits. Drawn from the runs' result.json and meta.npz; every call draws the figure anew.
(A single run's figure is plot.py's, drawn by reproduce.py when the run is made.)
"""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from tinymeta import mlp, sinusoid  # noqa: E402
from tinymeta.lab import checkpoint, train  # noqa: E402
from tinymeta.lab.protocol import SHOTS, TEST_SEED  # noqa: E402
from tinymeta.lab.registry import ALGORITHMS  # noqa: E402

EXAMPLES = ("pretrain-k10", "maml-k10", "maml-finn-k10", "enhanced-5step-k10")


def steps(runs, path):
    """Query MSE against adaptation steps: top, the runs trained as in the papers; below, with five inner steps
    (MAML++) and in Finn et al.'s code setting. One colour per algorithm; a curve that leaves the top diverged.
    Saves it to `path` and returns the (closed) Figure."""
    fig, axes = plt.subplots(2, len(SHOTS), figsize=(12, 7.5), sharex=True, sharey=True, squeeze=False)
    for col, k in enumerate(SHOTS):
        for r in runs:
            if str(k) not in r["evaluations"]:
                continue
            records = r["evaluations"][str(k)]
            mse = np.array([np.inf if x["mse_query"] is None else x["mse_query"] for x in records])
            row = int("-5step" in r["name"] or "-finn" in r["name"])
            axes[row, col].plot([x["steps"] for x in records], np.minimum(mse, 1e3), marker=".",  # diverged: off the top
                                ls="--" if r["shots"] != k else "-", label=r["name"],
                                color=plt.cm.tab20(list(ALGORITHMS).index(r["algorithm"])))
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
    return fig


def examples(results, path, names=EXAMPLES, n_tasks=3):
    """Predictions before adapting and after 1 and 10 steps on the same 10-shot test tasks, one row per run
    of `names` that has a meta.npz; returns False, drawing nothing, if none has."""
    dirs = [os.path.join(results, "runs", n) for n in names]
    dirs = [d for d in dirs if os.path.exists(os.path.join(d, "meta.npz"))]
    if not dirs:
        return False
    tasks = sinusoid.sample_tasks(train.task_stream(TEST_SEED, "evaluate"), n_tasks, 10, 10)
    grid = np.linspace(-5, 5, 200)[None, :, None].repeat(n_tasks, axis=0)  # (T, 200, 1)
    fig, axes = plt.subplots(len(dirs), n_tasks, figsize=(3.6 * n_tasks, 2.5 * len(dirs)), squeeze=False,
                             sharex=True, sharey=True)
    for row, d in zip(axes, dirs):
        config, meta = checkpoint.load_meta(d)
        for s, style in ((0, ":"), (1, "--"), (10, "-")):
            pred = mlp.predict(ALGORITHMS[config["algorithm"]].adapt(meta, tasks.x_support, tasks.y_support, config, s),
                               grid)
            for t, ax in enumerate(row):
                ax.plot(grid[t, :, 0], pred[t, :, 0], style, color="C1",
                        label="before adapting" if s == 0 else f"after {s} step{'s' * (s > 1)}")
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
