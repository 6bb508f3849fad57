"""One figure of a run, in the style of Finn et al. 2017, Fig. 2: for a few test tasks, the true
sine, the K support points and the network's prediction before adaptation and after 1 and 10
steps; below, the meta-training curve. Drawn with matplotlib's Agg backend (no window), saved as PNG.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinymeta import mlp, sinusoid  # noqa: E402

STEPS = (0, 1, 10)


def figure(meta, algorithm, config, history, rng, path, shots=None, n_tasks=3):
    """Draw the run and save it to `path` (PNG). rng draws the test tasks; history is the
    per-iteration meta-loss."""
    shots = shots or config["shots"]
    tasks = sinusoid.sample_tasks(rng, n_tasks, shots, shots)
    x = np.broadcast_to(np.linspace(*sinusoid.X_RANGE, 200)[:, None], (n_tasks, 200, 1))  # (T, 200, 1)
    predictions = {s: mlp.predict(algorithm.adapt(meta, tasks.x_support, tasks.y_support, config, s), x)
                   for s in STEPS}  # (T, 200, 1) each
    fig = plt.figure(figsize=(4 * n_tasks, 7.5), layout="constrained")
    grid = fig.add_gridspec(2, n_tasks, height_ratios=(3, 2))
    for t in range(n_tasks):
        ax = fig.add_subplot(grid[0, t])
        ax.plot(x[t, :, 0], sinusoid.sine(tasks.amplitude[t:t + 1], tasks.phase[t:t + 1], x[t:t + 1])[0, :, 0],
                color="black", lw=2, label="true function")
        for s, style in zip(STEPS, (":", "--", "-")):
            ax.plot(x[t, :, 0], predictions[s][t, :, 0], style, lw=1.5,
                    label="before adaptation" if s == 0 else f"after {s} step{'s' * (s > 1)}")
        ax.plot(tasks.x_support[t, :, 0], tasks.y_support[t, :, 0], "^", color="purple", ms=7,
                label=f"{shots} support points")
        ax.set_title(f"test task {t + 1}: A={tasks.amplitude[t]:.2f}, phase={tasks.phase[t]:.2f}")
        ax.set_xlabel("x")
        ax.set_ylim(-5.5, 5.5)
        if t == 0:
            ax.legend(loc="lower left", fontsize=8)
    ax = fig.add_subplot(grid[1, :])
    history = np.asarray(history, dtype=float)
    if len(history):
        window = max(1, len(history) // 100)
        smooth = np.convolve(history, np.ones(window) / window, mode="valid")
        its = np.arange(1, len(history) + 1)
        ax.plot(its, history, color="tab:blue", alpha=0.25, lw=0.5, label="meta-loss per iteration")
        ax.plot(its[window - 1:], smooth, color="tab:blue", lw=2, label=f"moving average of {window}")
        ax.set_yscale("log")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("meta-training iteration")
    ax.set_ylabel("meta-loss")
    ax.set_title(f"{config['algorithm']}, {config['shots']}-shot, meta-batch {config['meta_batch']}, "
                 f"inner lr {config['inner_lr']}, {config['inner_steps']} inner step(s)")
    fig.savefig(path, dpi=100)
    plt.close(fig)
