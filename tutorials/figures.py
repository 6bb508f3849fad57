"""Make the figures of the tutorials and the README: `make figures`, or `python tutorials/figures.py [--out DIR] [--only NAME ...]`.

Every figure is computed here from tinymeta, with fixed seeds; the PNGs are committed next to the
tutorials so that GitHub shows them, each holding a digest of what it draws (tinymeta/lab/pictures.py):
tests/test_figures.py fails if a function of FIGURES now draws something else. Takes a minute or two on one
core (the pretraining run of 01, the README's MAML loop for 03, the short meta-training runs of 07);
`--only 07-short-run.png` makes just that one.
"""
import argparse
import re
from pathlib import Path

import autograd.numpy as anp
import matplotlib
import numpy as np
from autograd import grad
from autograd.misc import flatten

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from tinymeta import enhanced, maml, mlp, reptile, sinusoid  # noqa: E402
from tinymeta.lab import optim, pictures, registry, train  # noqa: E402

GRID = np.linspace(-5, 5, 401)[:, None]  # (401, 1)
ROOT = Path(__file__).parent.parent


def tasks_figure():
    """01: four tasks, their support points (filled) and query points (open); of 100 tasks drawn, those with
    the amplitude nearest 1, 2.3, 3.6 and 4.9, so that the figure shows the family's range."""
    drawn = sinusoid.sample_tasks(np.random.default_rng(0), 100, 10, 15)
    chosen = [int(np.argmin(np.abs(drawn.amplitude - a))) for a in (1.0, 2.3, 3.6, 4.9)]
    tasks = sinusoid.Tasks(*(a[chosen] for a in drawn))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for t, color in enumerate(["C0", "C1", "C2", "C3"]):
        curve = tasks.amplitude[t] * np.sin(GRID - tasks.phase[t])
        ax.plot(GRID, curve, color=color, lw=1,
                label=f"A = {tasks.amplitude[t]:.2f}, φ = {tasks.phase[t]:.2f}")
        ax.plot(tasks.x_support[t], tasks.y_support[t], "o", color=color, ms=5)
        ax.plot(tasks.x_query[t], tasks.y_query[t], "o", mfc="none", color=color, ms=5)
    ax.set(xlabel="x", ylabel="y", title="Four tasks: 10 support points (filled), 15 query points (open)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), title="task", title_fontsize=7)  # beside: no curve under it
    fig.tight_layout()
    return fig


def pretrain(rng, steps, lr=0.01, n_tasks=10, k=10):
    """Joint training on pooled tasks with Adam, as in tutorial 01 (longer here)."""
    params = mlp.init(rng, (1, 40, 40, 1))
    pooled_loss = lambda p, x, y: anp.mean(mlp.mse(p, x, y))
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for i in range(1, steps + 1):
        batch = sinusoid.sample_tasks(rng, n_tasks, k, 1)
        g = grad(pooled_loss)(params, batch.x_support, batch.y_support)
        m = [0.9 * a + 0.1 * b for a, b in zip(m, g)]
        v = [0.999 * a + 0.001 * b**2 for a, b in zip(v, g)]
        rate = lr * (1 - i / steps)
        params = [p - rate * (a / (1 - 0.9**i)) / (np.sqrt(b / (1 - 0.999**i)) + 1e-8)
                  for p, a, b in zip(params, m, v)]
    return params


def pretrain_figure(steps=6000):
    """01: the jointly trained network next to E[y|x] = -(2 E[A] / pi) cos x."""
    params = pretrain(np.random.default_rng(3), steps)
    peak = 2 * np.mean(sinusoid.AMPLITUDE) / np.pi
    gap = mlp.predict(params, GRID) + peak * np.cos(GRID)
    assert np.sqrt(np.mean(gap**2)) < 0.15, "tutorial 01 says the network lies on top of E[y | x]"
    tasks = sinusoid.sample_tasks(np.random.default_rng(5), 25, 1, 1)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for t in range(25):
        ax.plot(GRID, tasks.amplitude[t] * np.sin(GRID - tasks.phase[t]), color="0.8", lw=0.8,
                label="tasks" if t == 0 else None)
    ax.plot(GRID, -peak * np.cos(GRID), "k--", lw=2, label=f"E[y | x] = -{peak:.2f} cos x")
    ax.plot(GRID, mlp.predict(params, GRID), "C3", lw=2, label=f"network trained jointly ({steps} Adam steps)")
    ax.set(xlabel="x", ylabel="y", title="One network for all tasks learns the average task")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)  # below the axes: no curve under it
    fig.tight_layout()
    return fig


def central_differences_figure():
    """02: relative error of the central difference against h, float64 and float32."""
    rng = np.random.default_rng(0)
    params = mlp.init(rng, (1, 40, 40, 1))
    tasks = sinusoid.sample_tasks(rng, 1, 10, 10)
    x, y = tasks.x_support[0], tasks.y_support[0]
    flat, unflatten = flatten(params)
    v = rng.standard_normal(flat.shape)
    v /= np.linalg.norm(v)
    exact = flatten(grad(mlp.mse)(params, x, y))[0] @ v
    hs = 2.0 ** -np.arange(0, 30, 0.5)
    fig, ax = plt.subplots(figsize=(6, 4))
    for dtype, color in ((np.float64, "C0"), (np.float32, "C3")):
        f = lambda w: mlp.mse([p.astype(dtype) for p in unflatten(w)], x.astype(dtype), y.astype(dtype))
        w0, v0 = flat.astype(dtype), v.astype(dtype)
        errors = [abs((f(w0 + dtype(h) * v0) - f(w0 - dtype(h) * v0)) / dtype(2 * h) - exact) / abs(exact)
                  for h in hs]
        ax.loglog(hs, np.maximum(errors, 1e-17), "o-", ms=3, color=color, label=np.dtype(dtype).name)
    ax.loglog(hs[:16], 1e-2 * (hs[:16] / hs[0]) ** 2, "k:", label="slope 2")
    ax.axhline(1e-6, color="0.5", lw=0.8)
    ax.text(hs[-1], 1.5e-6, "test tolerance 1e-6", fontsize=8, color="0.4")
    ax.set(xlabel="step h", ylabel="relative error of the central difference",
           title="Central differences: O(h²) until rounding takes over")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def first_order_gap_figure():
    """03: cosine similarity of first-order and exact MAML meta-gradients against the inner rate."""
    params = mlp.init(np.random.default_rng(0), (1, 40, 40, 1))
    batch = sinusoid.sample_tasks(np.random.default_rng(1), 25, 10, 10)
    rates = np.logspace(-5, -2, 13)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for steps, color in ((1, "C0"), (5, "C1")):
        cosines, errors = [], []
        for lr in rates:
            exact = flatten(grad(maml.meta_loss)(params, batch, mlp.mse, lr, steps))[0]
            first = flatten(grad(maml.meta_loss)(params, batch, mlp.mse, lr, steps, first_order=True))[0]
            cosines.append(exact @ first / (np.linalg.norm(exact) * np.linalg.norm(first)))
            errors.append(np.linalg.norm(first - exact) / np.linalg.norm(exact))
        axes[0].semilogx(rates, cosines, "o-", ms=3, color=color, label=f"{steps} inner step{'s' * (steps > 1)}")
        axes[1].loglog(rates, errors, "o-", ms=3, color=color)
        small = rates <= 1e-3
        slope = np.polyfit(np.log(rates[small]), np.log(np.array(errors)[small]), 1)[0]
        assert 0.8 < slope < 1.2, f"tutorial 03 says the error grows in proportion to alpha, slope {slope}"
    axes[0].set(xlabel="inner_lr α", ylabel="cosine similarity", title="first-order vs exact: direction")
    axes[1].set(xlabel="inner_lr α", ylabel="‖FO − exact‖ / ‖exact‖", title="first-order vs exact: error")
    axes[0].legend(fontsize=8)
    fig.suptitle("MAML meta-gradients at initialisation, 25 sinusoid tasks, K = 10", fontsize=9)
    fig.tight_layout()
    return fig


def readme_loop():
    """The README's MAML loop, executed as written (it prints its errors): the names it defines."""
    [code] = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
    namespace = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


def maml_before_after_figure():
    """03 and the README: the network the README's loop meta-trains (tutorial 03 trains the same), on three of
    the README's held-out tasks (those with amplitude nearest 1, 2.5 and 4), before and after 1 and 10 steps."""
    loop = readme_loop()
    params, new = loop["params"], loop["new"]
    chosen = [int(np.argmin(np.abs(new.amplitude - a))) for a in (1.0, 2.5, 4.0)]
    tasks = sinusoid.Tasks(*(a[chosen] for a in new))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3), sharey=True)
    errors = {}
    for steps, style, color in ((0, "--", "0.5"), (1, "-", "C0"), (10, "-", "C1")):
        fast = maml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, 0.01, steps)
        errors[steps] = mlp.mse(fast, tasks.x_query, tasks.y_query)                   # (3,)
        curves = mlp.predict(fast, np.broadcast_to(GRID, (3,) + GRID.shape))          # (3, 401, 1)
        for t, ax in enumerate(axes):
            label = "before adapting" if steps == 0 else f"after {steps} step{'s' * (steps > 1)}"
            ax.plot(GRID, curves[t], style, color=color, lw=1.5, label=label)
    assert np.all(errors[10] < errors[0]), "the README says ten steps fit the task"
    for t, ax in enumerate(axes):
        truth = tasks.amplitude[t] * np.sin(GRID - tasks.phase[t])
        ax.plot(GRID, truth, "k", lw=1, label="the task", zorder=3)                    # on top of the fits
        ax.plot(tasks.x_support[t], tasks.y_support[t], "o", color="C3", ms=5, label="10 support points", zorder=4)
        ax.set(xlabel="x", title=f"A = {tasks.amplitude[t]:.2f}, φ = {tasks.phase[t]:.2f}")
    axes[0].set(ylabel="y")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle("MAML's meta-learned initialisation on three new tasks (the README's loop, 2,000 iterations)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def taylor_figure():
    """04: error of the Taylor expansions of Reptile (two steps) and MAML (one step) against alpha."""
    params = mlp.init(np.random.default_rng(0), (1, 40, 40, 1))
    task = sinusoid.sample_tasks(np.random.default_rng(1), 1, 10, 10)
    x1, y1, x2, y2 = task.x_support[:, :5], task.y_support[:, :5], task.x_support[:, 5:], task.y_support[:, 5:]
    flat, unflatten = flatten(params)
    L1 = lambda w: mlp.mse(unflatten(w), x1[0], y1[0])
    L2 = lambda w: mlp.mse(unflatten(w), x2[0], y2[0])
    g1, g2 = grad(L1)(flat), grad(L2)(flat)
    H2g1 = grad(lambda w: anp.dot(grad(L2)(w), g1))(flat)
    inner = grad(lambda w: anp.dot(grad(L1)(w), grad(L2)(w)))(flat)
    step = lambda w, x, y, lr: [a[0] for a in reptile.adapt(w, x, y, mlp.mse, lr, 1)]
    as_tasks = sinusoid.Tasks(x1, y1, x2, y2, None, None)
    alphas = 2.5e-4 * 2.0 ** -np.arange(8)
    reptile_errors, maml_errors = [], []
    for a in alphas:
        bracket = flat - flatten(step(step(params, x1, y1, a), x2, y2, a))[0]
        reptile_errors.append(np.linalg.norm(bracket - (a * (g1 + g2) - a**2 * H2g1)))
        meta = flatten(grad(maml.meta_loss)(params, as_tasks, mlp.mse, a, 1))[0]
        maml_errors.append(np.linalg.norm(meta - (g2 - a * inner)))
    for errors, order in ((reptile_errors, 3), (maml_errors, 2)):
        slope = np.polyfit(np.log(alphas), np.log(errors), 1)[0]
        assert abs(slope - order) < 0.1, f"tutorial 04 says slope {order}, measured {slope}"
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(alphas, reptile_errors, "o-", color="C0", label="Reptile bracket − second-order Taylor")
    ax.loglog(alphas, 3 * reptile_errors[0] * (alphas / alphas[0]) ** 3, "C0:", label="slope 3 (shifted up)")
    ax.loglog(alphas, maml_errors, "s-", color="C1", label="MAML gradient − first-order Taylor")
    ax.loglog(alphas, 3 * maml_errors[0] * (alphas / alphas[0]) ** 2, "C1:", label="slope 2 (shifted up)")
    ax.set(xlabel="inner_lr α", ylabel="norm of the remainder",
           title="Taylor expansions of tutorial 04, measured")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def maml_plus_plus_figure(steps=5, msl_iterations=1000, first_order_iterations=500, iterations=1500):
    """06: the three MAML++ schedules of train.py over one run, as train.run applies them."""
    its = np.arange(1, iterations + 1)
    config = train.make_config("enhanced", inner_steps=steps, msl_iterations=msl_iterations,
                               first_order_iterations=first_order_iterations, iterations=iterations, cosine=True)
    weights = np.array([enhanced.msl_weights(steps, i - 1, msl_iterations) if i <= msl_iterations
                        else np.eye(steps)[-1] for i in its])  # what enhanced_loss_and_grad uses at iteration i
    order = np.array([1 if registry.first_order(config, i) else 2 for i in its])
    rate = np.array([train.meta_lr(config, i) for i in its])
    assert np.allclose(weights.sum(axis=1), 1) and np.allclose(weights[0], 1 / steps)
    assert np.allclose(weights[int(0.97 * msl_iterations) + 1:msl_iterations, 0], 0.03 / steps)
    assert np.all(order[:first_order_iterations] == 1) and np.all(order[first_order_iterations:] == 2)
    assert rate[0] == config["meta_lr"] and np.all(np.diff(rate) < 0)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    assert np.all(weights[:, :-1] == weights[:, :1])  # the first k - 1 weights are equal: one curve
    axes[0].plot(its, weights[:, 0], "C0--", lw=1.5, label=f"w1 = ... = w{steps - 1}")
    axes[0].plot(its, weights[:, -1], "C1", lw=1.5, label=f"w{steps} (last step)")
    axes[0].axvline(msl_iterations, color="0.8", lw=0.8, label=f"--msl-iterations {msl_iterations}")
    axes[0].set(xlabel="meta-iteration", ylabel="weight", title=f"multi-step loss weights, k = {steps}",
                ylim=(-0.05, 1.05))
    axes[0].legend(fontsize=7)
    axes[1].step(its, order, where="post", color="k")
    axes[1].set(xlabel="meta-iteration", ylabel="derivative order", yticks=[1, 2], ylim=(0.5, 2.5),
                title="derivative-order annealing")
    axes[2].plot(its, rate, color="C3")
    axes[2].set(xlabel="meta-iteration", ylabel="Adam rate", title="cosine annealing of the meta rate")
    fig.suptitle(f"MAML++ schedules for a {iterations}-iteration run: --msl-iterations {msl_iterations}, "
                 f"--first-order-iterations {first_order_iterations}, --cosine", fontsize=9)
    fig.tight_layout()
    return fig


def baseline_errors():
    """The expected query MSE over the task family of predicting 0, E[A^2] / 2, and of the best single curve,
    E[y | x] = -(2 E[A] / pi) cos x, whatever the task (tutorial 01 derives both: 4.25 and 3.01)."""
    low, high = sinusoid.AMPLITUDE
    mean_square_amplitude = (high**3 - low**3) / (3 * (high - low))
    peak = 2 * np.mean(sinusoid.AMPLITUDE) / np.pi
    x_low, x_high = sinusoid.X_RANGE
    mean_cos_squared = 0.5 + (np.sin(2 * x_high) - np.sin(2 * x_low)) / (4 * (x_high - x_low))
    return mean_square_amplitude / 2, mean_square_amplitude / 2 - peak**2 * mean_cos_squared


def short_run(name, iterations, every, meta_batch=10, test_tasks=200):
    """Meta-train `name` in memory as train.run does; every `every` iterations the query MSE on new tasks
    after one inner step, and the learned rates if any; returns them with the final meta-parameters."""
    config = train.make_config(name, meta_batch=meta_batch, inner_steps=1)
    stream = np.random.default_rng(0)
    algorithm = registry.ALGORITHMS[name]
    meta = algorithm.init(mlp.init(stream, (1, 40, 40, 1)), config)
    size = flatten(meta)[0].size
    state = (0, np.zeros(size), np.zeros(size))
    new = sinusoid.sample_tasks(np.random.default_rng(100), test_tasks, 10, 10)
    marks, errors, rates = [], [], []
    for iteration in range(0, iterations + 1):
        if iteration % every == 0:
            fast = algorithm.adapt(meta, new.x_support, new.y_support, config, 1)
            marks.append(iteration)
            errors.append(np.mean(mlp.mse(fast, new.x_query, new.y_query)))
            rates.append(np.array(meta["lr"][0]) if "lr" in meta else None)
        if iteration < iterations:
            batch = sinusoid.sample_tasks(stream, meta_batch, 10, 10)
            _, g = algorithm.loss_and_grad(meta, batch, config, iteration + 1)
            meta, state = optim.adam(meta, g, state, config["meta_lr"])
    return np.array(marks), np.array(errors), rates, meta


def short_run_figure(iterations=300, every=10):
    """07: query MSE after one step on 200 new tasks during short runs; Enhanced's learned rates."""
    runs = {name: short_run(name, iterations, every) for name in ("maml", "metacurvature", "enhanced")}
    marks = runs["maml"][0]
    at = {name: dict(zip(marks, errors)) for name, (_, errors, _, _) in runs.items()}
    assert at["enhanced"][40] < 0.5 * at["maml"][40], "tutorial 07: Enhanced below half of MAML at 40"
    assert all(at[name][iterations] < at["maml"][iterations] for name in ("metacurvature", "enhanced")), \
        "tutorial 07: both learned preconditioners end the short run below MAML"
    assert all(at[name][iterations] < 0.1 * at[name][0] for name in runs), "tutorial 07: all fall tenfold"
    zero, best_single = baseline_errors()
    assert all(at[name][0] > 10 * zero for name in runs), "tutorial 07: they start far above predicting 0"
    assert all(at[name][iterations] > best_single for name in runs), "tutorial 07: none beats the best single curve"
    assert min(at["maml"][iterations], at["metacurvature"][iterations]) > zero, "tutorial 07: two above predicting 0"
    final = runs["enhanced"][3]
    for i in (3, 5):  # b2, b3: negative learned rates while their bias vectors m stay positive
        assert final["lr"][0, i] < 0 and np.all(final["curvature"][i] > 0), "tutorial 07: steps up the gradient"
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for (name, (marks, errors, _, _)), color in zip(runs.items(), ("C0", "C1", "C2")):
        axes[0].semilogy(marks, errors, "o-", ms=2.5, color=color, label=name)
    for error, style, what in ((zero, "--", "predicting 0"), (best_single, ":", "the best single curve")):
        axes[0].axhline(error, color="k", ls=style, lw=1, label=f"{what}: {error:.2f}")
    axes[0].axvline(40, color="0.8", lw=0.8, label="40: the tutorial's own run")
    axes[0].set(xlabel="meta-iteration (10 tasks each)", ylabel="query MSE after one inner step",
                title="200 new tasks, K = 10")
    axes[0].legend(fontsize=8)
    rates = np.array(runs["enhanced"][2])  # (marks, 6)
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]
    for i in range(rates.shape[1]):
        axes[1].plot(marks, rates[:, i], color=f"C{i}", label=names[i])
    axes[1].axhline(0.01, color="0.6", ls=":", lw=1)
    axes[1].axhline(0, color="0.8", lw=0.8)
    axes[1].set(xlabel="meta-iteration", ylabel="learned rate", title="Enhanced: its LSLR rates (start 0.01)")
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(f"A short run only ({iterations} iterations, meta-batch 10, 1 inner step): the start of training, "
                 "not its end", fontsize=9)
    fig.tight_layout()
    return fig


FIGURES = {
    "01-tasks.png": tasks_figure,
    "01-pretrain-mean.png": pretrain_figure,
    "02-central-differences.png": central_differences_figure,
    "03-first-order-gap.png": first_order_gap_figure,
    "03-maml-before-after.png": maml_before_after_figure,
    "04-taylor.png": taylor_figure,
    "06-maml-plus-plus.png": maml_plus_plus_figure,
    "07-short-run.png": short_run_figure,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "figures",
                        help="folder for the PNGs (default: tutorials/figures)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(FIGURES),
                        help="make only these figures, e.g. --only 06-maml-plus-plus.png (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, make in FIGURES.items():
        if args.only and name not in args.only:
            continue
        pictures.save(make(), args.out / name, dpi=110)
        print(args.out / name)


if __name__ == "__main__":
    main()
