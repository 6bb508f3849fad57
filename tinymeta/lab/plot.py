"""One figure of a run, in the style of Finn et al. 2017, Fig. 2: for a few test tasks, the true
sine, the K support points and the network's prediction before adaptation and after 1 and 10
steps (for an Omniglot run, one test task: its support drawings and the label each query drawing
gets before adaptation and after 1 and 3 steps); below, the meta-training curve (if the run's history is at
hand: a checkpoint has it, the meta.npz files of results/ do not); below that, whatever else was meta-learned,
one panel per parameter array, each on its own scale (a weight's rates are often a hundred times smaller than a
bias's):

- per-array, per-step learning rates (LSLR, Enhanced) as bars, one per inner step;
- per-weight learning rates (Meta-SGD) as a box plot over the rates themselves, one rate per weight;
- curvature (Meta-Curvature, Enhanced) as heat maps of M_in - I and M_out - I per weight and bars of
  m - 1 per bias: what was learned on top of the identity that makes the update MAML's; a 1×1 matrix
  or a lone bias is written as its number.

Drawn with matplotlib's Agg backend (no window), saved as one PNG that holds a digest of what it draws
(pictures.save).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402

from tinymeta import mlp, omniglot, sinusoid  # noqa: E402
from tinymeta.lab import families, pictures  # noqa: E402
from tinymeta.lab.train import ConfigError  # noqa: E402

STEPS = (0, 1, 10)
EPISODE_STEPS = (0, 1, 3)  # as evaluate's default for Omniglot runs
COLUMNS = 10  # an Omniglot task with more classes shows the first 10
FILE_TYPES = set(FigureCanvasBase.get_supported_filetypes())  # "png", "pdf", "svg", ...: what savefig writes
DIVERGING = "RdBu_r"  # blue below 0, white at 0, red above


def figure(meta, algorithm, config, history, rng, path, shots=None, n_tasks=3):
    """Draw the run (see `draw`) and save it to `path` (a PNG, or another type savefig knows); returns the
    (closed) matplotlib Figure."""
    fig = draw(meta, algorithm, config, history, rng, shots, n_tasks)
    pictures.save(fig, path, dpi=100)
    return fig


def draw(meta, algorithm, config, history, rng, shots=None, n_tasks=3):
    """The run's figure, not saved: rng draws the test tasks; history is the per-iteration meta-loss, or None
    for no training curve. Sections for learned rates and curvature are added when meta has "lr" or
    "curvature" (see `meta_sections`)."""
    sections, episode = meta_sections(meta), families.problem(config) == "omniglot"
    if episode:  # one task: support rows, a row per step count, the curve
        rows = (shots or config["shots"]) + len(EPISODE_STEPS)
        heights, width = [1.3 * rows + (3.0 if history is not None else 0.5)], 12
    else:
        heights, width = [7.5 if history is not None else 4.5], 4 * n_tasks
    heights += [HEIGHTS[s] for s in sections]
    fig = plt.figure(figsize=(width, sum(heights)), layout="constrained")
    subfigs = fig.subfigures(len(heights), 1, height_ratios=heights, squeeze=False)[:, 0]
    first = draw_episode if episode else draw_fits
    first(subfigs[0], meta, algorithm, config, history, rng, shots or config["shots"], n_tasks)
    for subfig, section in zip(subfigs[1:], sections):
        DRAW[section](subfig, meta, config)
    return fig


def meta_sections(meta):
    """The meta-learned things beyond an initialisation that `figure` draws, in order:
    "step rates" (lr of shape (steps, arrays)), "weight rates" (lr a list shaped like params), "curvature"."""
    sections = []
    if "lr" in meta:
        sections.append("weight rates" if isinstance(meta["lr"], (list, tuple)) else "step rates")
    if "curvature" in meta:
        sections.append("curvature")
    return sections


def names(params):
    """["W1", "b1", "W2", "b2", ...]: weights (2-D) and biases of layer i // 2 + 1."""
    return [f"{'W' if np.ndim(p) == 2 else 'b'}{i // 2 + 1}" for i, p in enumerate(params)]


def shape_text(shape):
    return "×".join(map(str, shape)) if len(shape) > 1 else f"{shape[0]},"


def plural(n, word):
    return f"{n} {word}{'s' * (n != 1)}"


def describe(config):
    """The run in a few words: "lslr, 5-shot, meta-batch 25, inner lr 0.01, 1 inner step" ("maml, 5-way 1-shot, ...")."""
    ways = f"{config['ways']}-way " if families.problem(config) == "omniglot" else ""
    return (f"{config['algorithm']}, {ways}{config['shots']}-shot, meta-batch {config['meta_batch']}, "
            f"inner lr {config['inner_lr']}, {plural(config['inner_steps'], 'inner step')}")


def draw_fits(fig, meta, algorithm, config, history, rng, shots, n_tasks):
    """Finn et al. Fig. 2: test-task fits before and after adaptation; below, the meta-training curve."""
    tasks = sinusoid.sample_tasks(rng, n_tasks, shots, shots)
    x = np.broadcast_to(np.linspace(*sinusoid.X_RANGE, 200)[:, None], (n_tasks, 200, 1))  # (T, 200, 1)
    predictions = {s: mlp.predict(algorithm.adapt(meta, tasks.x_support, tasks.y_support, config, s), x)
                   for s in STEPS}  # (T, 200, 1) each
    fig.suptitle(f"{describe(config)}: test tasks (never trained on), before and after adaptation")
    grid = fig.add_gridspec(2 if history is not None else 1, n_tasks,
                            height_ratios=(3, 2) if history is not None else None)
    for t in range(n_tasks):
        ax = fig.add_subplot(grid[0, t])
        for s, style, color in zip(STEPS, (":", "--", "-"), ("tab:gray", "tab:blue", "tab:orange")):
            ax.plot(x[t, :, 0], predictions[s][t, :, 0], style, color=color, lw=2,
                    label="before adaptation" if s == 0 else f"after {plural(s, 'step')}")
        ax.plot(x[t, :, 0], sinusoid.sine(tasks.amplitude[t:t + 1], tasks.phase[t:t + 1], x[t:t + 1])[0, :, 0],
                color="black", lw=1, label="true function", zorder=3)  # on top of the predictions
        ax.plot(tasks.x_support[t, :, 0], tasks.y_support[t, :, 0], "^", color="tab:purple", ms=7,
                label=f"{shots} support points", zorder=4)
        ax.set_title(f"test task {t + 1}: A={tasks.amplitude[t]:.2f}, phase={tasks.phase[t]:.2f}")
        ax.set_xlabel("x")
        ax.set_ylim(-5.5, 5.5)
        if t == 0:
            ax.set_ylabel("y")
            ax.legend(loc="lower left", fontsize=8)
    if history is not None:
        draw_curve(fig.add_subplot(grid[1, :]), history, config)


def draw_episode(fig, meta, algorithm, config, history, rng, shots, n_tasks=1):
    """An Omniglot test task: its support drawings (a column per label, at most COLUMNS), then one query
    drawing of each class with the label the network gives it before adaptation and after EPISODE_STEPS
    steps (green if right, red if wrong; the row says how many of all the task's queries are right);
    below, the meta-training curve. n_tasks is ignored: one task."""
    ways, queries = config["ways"], config["queries"]
    columns = min(ways, COLUMNS)
    if config.get("background"):  # trained on all of a background set: its test task is Lake et al.'s first run
        tasks, shots, queries = lake_task(config), 1, 1
    else:
        tasks = families.sample(rng, config, 1, "test", shots, queries)
    truth = np.argmax(tasks.y_query[0], axis=-1)  # (N * Q,)
    predicted = {s: np.argmax(mlp.predict(algorithm.adapt(meta, tasks.x_support, tasks.y_support, config, s),
                                          tasks.x_query)[0], axis=-1) for s in EPISODE_STEPS}  # (N * Q,) each
    rows = shots + len(EPISODE_STEPS)
    grid = fig.add_gridspec(rows + (history is not None), columns,
                            height_ratios=[1] * rows + ([2.3] if history is not None else []))
    side = int(np.sqrt(tasks.x_support.shape[-1]))  # 28
    fig.suptitle(f"{describe(config)}: a test task (characters never trained on)"
                 + (f", its first {columns} of {ways} classes" if columns < ways else ""))
    for j in range(columns):
        for k in range(shots):
            ax = image(fig.add_subplot(grid[k, j]), tasks.x_support[0, j * shots + k], side)
            if k == 0:
                ax.set_title(f"label {j}", fontsize=9)
            if j == 0:
                ax.set_ylabel("support" if shots == 1 else f"support {k + 1}", fontsize=9)
        for r, s in enumerate(EPISODE_STEPS):
            q = j * queries  # the first query drawing of class j
            ax = image(fig.add_subplot(grid[shots + r, j]), tasks.x_query[0, q], side)
            right = predicted[s][q] == truth[q]
            ax.set_title(f"→ {predicted[s][q]}", fontsize=9, color="tab:green" if right else "tab:red")
            if j == 0:
                score = np.sum(predicted[s] == truth)
                ax.set_ylabel(("before adapting" if s == 0 else f"after {plural(s, 'step')}") +
                              f"\n{score} of {ways * queries} right", fontsize=9)
    if history is not None:
        draw_curve(fig.add_subplot(grid[rows, :]), history, config)


def lake_task(config):
    """Lake et al.'s first run as one task of sample_tasks' layout: query j is the test image of class j."""
    runs = omniglot.lake_tasks(omniglot.lake_runs())
    if config["ways"] != runs.y_query.shape[-1]:
        raise ConfigError(f"a run trained on background set {config['background']} has no test characters, and Lake "
                          f"et al.'s runs are {runs.y_query.shape[-1]}-way, not {config['ways']}-way: nothing to draw")
    order = np.argsort(np.argmax(runs.y_query[0], axis=-1))
    return runs._replace(x_support=runs.x_support[:1], y_support=runs.y_support[:1],
                         x_query=runs.x_query[:1, order], y_query=runs.y_query[:1, order])


def image(ax, pixels, side):
    """One drawing, ink black on white, without ticks (an axis label may still name the row)."""
    ax.imshow(np.reshape(pixels, (side, side)), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def draw_curve(ax, history, config):
    """The meta-training curve: the meta-loss of every iteration and its running median, log scale."""
    history = np.asarray(history, dtype=float)
    if len(history):
        window = max(1, len(history) // 100)
        blocks = len(history) // window  # the median of each block of `window` iterations: a spike moves it little
        smooth = np.median(history[:blocks * window].reshape(blocks, window), axis=1)
        its = np.arange(1, len(history) + 1)
        ax.plot(its, history, color="tab:blue", alpha=0.25, lw=0.5, label="meta-loss per iteration")
        ax.plot(window * (np.arange(blocks) + 0.5), smooth, color="tab:blue", lw=2,
                label=f"median of every {window} iterations")
        ax.set_yscale("log")
        top = 10 * np.quantile(history, 0.995)  # a few exploding batches would squash the curve into a line
        if np.any(history > top) and np.all(history > 0):
            above = int(np.sum(history > top))
            ax.set_ylim(0.5 * np.min(history), top)
            ax.text(0.01, 0.97, f"off the top: {plural(above, 'iteration')} whose meta-batch blew up in adaptation "
                    f"(meta-loss up to {np.max(history):.0e}); training went on", transform=ax.transAxes, va="top",
                    fontsize=8)
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("meta-training iteration")
    ax.set_ylabel("meta-loss")
    classification = families.problem(config) == "omniglot"
    if config["algorithm"] == "pretrain":
        what = ("the loss of classifying every image of the meta-batch among all training classes" if classification
                else "the loss of regression on all points of the meta-batch")
    else:
        what = f"the meta-loss, the query {'cross-entropy' if classification else 'MSE'} after adaptation, of each meta-batch"
    ax.set_title(f"meta-training curve: {what}")


def draw_step_rates(fig, meta, config):
    """LSLR / Enhanced: lr (steps, arrays), one panel per array with a bar per inner step, each panel on its
    own scale."""
    lr = np.asarray(meta["lr"])  # (S, n)
    steps, n = lr.shape
    axes = fig.subplots(1, n, squeeze=False)[0]
    for i, (ax, name) in enumerate(zip(axes, names(meta["params"]))):
        bars = ax.bar(np.arange(1, steps + 1), lr[:, i], color="tab:blue")
        if steps == 1:  # room for the number
            ax.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
            ax.margins(y=0.15)
        rate_lines(ax, config)
        ax.set_title(name)
        ax.set_xticks(np.arange(1, steps + 1))
        ax.set_xlabel("inner step")
    axes[0].set_ylabel("learned inner rate")
    fig.suptitle(f"learned learning rate per parameter array and inner step ({config['algorithm']}), each panel on "
                 f"its own scale; dashed: the initial rate {config['inner_lr']}")


def draw_weight_rates(fig, meta, config):
    """Meta-SGD: one rate per weight, so per array (a panel, on its own scale) a box plot of its rates (box:
    quartiles, whiskers: 1.5 IQR) over the rates themselves as dots, spread sideways so that they can be seen."""
    axes = fig.subplots(1, len(meta["lr"]), squeeze=False)[0]
    spread = np.random.default_rng(0)  # only moves the dots sideways: the picture is the same every time
    for ax, name, rates in zip(axes, names(meta["params"]), meta["lr"]):
        r = np.ravel(rates)
        ax.set_title(f"{name} ({shape_text(np.shape(rates))})")
        if r.size == 1:  # a lone rate: its number
            number_box(ax, r[0])
            continue
        ax.plot(1 + spread.uniform(-0.2, 0.2, len(r)), r, ".", color="tab:blue", ms=3, alpha=0.4)
        ax.boxplot([r], widths=0.6, showfliers=False, medianprops=dict(color="tab:orange", lw=2))
        rate_lines(ax, config)
        ax.set_xticks([1], [f"{plural(r.size, 'rate')}"])
    axes[0].set_ylabel("learned inner rate")
    fig.suptitle(f"learned per-weight learning rates of each array ({config['algorithm']}), each panel on its own "
                 f"scale; dashed: the initial rate {config['inner_lr']}")


def rate_lines(ax, config):
    """The initial rate (dashed) and zero, for the panels of learned rates."""
    ax.axhline(config["inner_lr"], color="black", ls="--", lw=1)
    ax.axhline(0, color="black", lw=0.5)


def draw_curvature(fig, meta, config):
    """Meta-Curvature: per layer (a column), heat maps of M_in - I and M_out - I of its weight, each on
    its own colour scale centred on 0, and bars of m - 1 of its bias."""
    params, curvature = meta["params"], meta["curvature"]
    axes = fig.subplots(3, (len(params) + 1) // 2, squeeze=False, height_ratios=(3, 3, 2))  # layer i // 2: a column
    for i, (name, c) in enumerate(zip(names(params), curvature)):
        if np.ndim(params[i]) == 2:
            for ax, m, which in zip(axes[:2, i // 2], c, ("in", "out")):
                heat_map(fig, ax, np.asarray(m) - np.eye(len(m)),
                         f"{name}: M_{which} − I ({shape_text(np.shape(m))})", f"{which}put unit")
            continue
        m, ax = np.ravel(c) - 1, axes[2, i // 2]
        ax.set_title(f"{name}: m − 1 ({shape_text(np.shape(c))})", fontsize=9)
        if len(m) == 1:  # a lone bias: its number
            number_box(ax, m[0])
            continue
        ax.bar(np.arange(len(m)), m, color=np.where(m >= 0, "tab:red", "tab:blue"))
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xlabel("output unit")
        ax.set_xlim(-0.6, len(m) - 0.4)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    for ax in axes.ravel():
        if not ax.has_data() and not ax.texts:
            ax.set_axis_off()
    fig.suptitle(f"learned curvature minus its initial identity ({config['algorithm']}): "
                 "update W ← W − α M_in G M_out, b ← b − α m ⊙ g")


def heat_map(fig, ax, d, title, unit):
    """d as an image, a diverging colour scale symmetric about 0, with a colour bar; 1×1: its number (on a scale
    of its own, a lone cell would always be the darkest colour)."""
    ax.set_title(title, fontsize=9)
    if d.size == 1:
        number_box(ax, d[0, 0])
        return
    v = np.max(np.abs(d)) or 1.0  # all zeros (nothing learned yet): white, scale ±1
    image = ax.imshow(d, cmap=DIVERGING, vmin=-v, vmax=v, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xlabel(unit)
    ax.set_ylabel(unit)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))  # a few unit numbers
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))


def number_box(ax, value):
    """A single learned number, written in the middle of an empty frame."""
    ax.text(0.5, 0.5, f"{value:+.3g}", ha="center", va="center", fontsize=16, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


HEIGHTS = {"step rates": 3.0, "weight rates": 3.0, "curvature": 8.0}
DRAW = {"step rates": draw_step_rates, "weight rates": draw_weight_rates, "curvature": draw_curvature}
