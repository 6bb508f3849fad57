"""Speed benchmarks: milliseconds per meta-iteration, and how they grow (python -m tinymeta bench).

One meta-iteration is what training repeats: the meta-gradient on a fresh batch of sinusoid tasks
plus an Adam step on the whole meta dict (task sampling is not timed). The paper's setting (Finn et
al. 2017): MLP 1-40-40-1, 25 tasks, K = 10 support and 10 query points, one inner SGD step of 0.01.
Each algorithm module present is benchmarked; the ones written later are picked up when they exist.
Last, classification: exact and first-order MAML on Omniglot 5-way 1-shot as training runs them, through
the registry, beside the plain op-by-op cross-entropy.
Timings are medians of wall-clock time; other programs running on the machine inflate them.
"""
import argparse
import importlib
import os
import platform
import sys
import time
import tracemalloc
from importlib.metadata import version

import numpy as np
from autograd import grad

from tinymeta import maml, mlp, sinusoid
from tinymeta.lab import families, malloc, registry, train
from tinymeta.lab.optim import adam, flatten

INNER_LR, META_LR = 0.01, 1e-3
SWEEP_LR = 0.001  # inner lr for the inner-steps sweep: 10 steps of 0.01 from a random init can overflow

# name: (module, meta-parameters from plain params, meta-gradient(module, meta, tasks, inner steps, inner lr))
ALGORITHMS = {
    "maml": ("maml", lambda m, p, s, lr: p,
             lambda m, meta, tasks, s, lr: grad(m.meta_loss)(meta, tasks, mlp.mse, lr, s)),
    "fomaml": ("maml", lambda m, p, s, lr: p,
               lambda m, meta, tasks, s, lr: grad(m.meta_loss)(meta, tasks, mlp.mse, lr, s, first_order=True)),
    "reptile": ("reptile", lambda m, p, s, lr: p,
                lambda m, meta, tasks, s, lr: m.meta_gradient(meta, tasks, mlp.mse, lr, s)),
    "metasgd": ("metasgd", lambda m, p, s, lr: m.init(p, inner_lr=lr),
                lambda m, meta, tasks, s, lr: grad(m.meta_loss)(meta, tasks, mlp.mse, inner_steps=s)),
    "lslr": ("lslr", lambda m, p, s, lr: m.init(p, inner_steps=s, inner_lr=lr),
             lambda m, meta, tasks, s, lr: grad(m.meta_loss)(meta, tasks, mlp.mse)),
    "metacurvature": ("metacurvature", lambda m, p, s, lr: m.init(p),
                      lambda m, meta, tasks, s, lr: grad(m.meta_loss)(meta, tasks, mlp.mse, lr, s)),
    "enhanced": ("enhanced", lambda m, p, s, lr: m.init(p, inner_steps=s, inner_lr=lr),
                 lambda m, meta, tasks, s, lr: grad(m.meta_loss)(meta, tasks, mlp.mse)),
    "anil": ("anil", lambda m, p, s, lr: p,
             lambda m, meta, tasks, s, lr: grad(m.meta_loss)(meta, tasks, mlp.mse, lr, s)),
    # iMAML: reg 10 and 5 CG steps (its registry defaults); CAVIA: 5 contexts (so 6 inputs), its own inner rate 1
    "imaml": ("imaml", lambda m, p, s, lr: p,
              lambda m, meta, tasks, s, lr: m.meta_gradient(meta, tasks, mlp.mse, lr, s, 10.0, 5)),
    "cavia": ("cavia", lambda m, p, s, lr: [np.concatenate([p[0], np.random.default_rng(0).normal(0, 0.5, (5, len(p[1])))])]
              + p[1:],
              lambda m, meta, tasks, s, lr: grad(m.meta_loss)(meta, tasks, mlp.mse, 5, 1.0, s)),
}


def available():
    """{name: imported module} for every algorithm whose module is in this checkout."""
    found = {}
    for name, (module, _, _) in ALGORITHMS.items():
        try:
            found[name] = importlib.import_module(f"tinymeta.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"tinymeta.{module}":
                raise
    return found


def ms_per_iteration(meta_gradient, meta, sample, iterations, seconds, warmup=3):
    """Median wall-clock ms of meta_gradient + Adam over fresh task batches from sample(), after `warmup`
    untimed ones: `iterations` timed iterations, or fewer (but at least 5) if they would take over `seconds`."""
    n = flatten(meta)[0].size
    state, times = (0, np.zeros(n), np.zeros(n)), []  # Adam's (t, m, v), as in training
    enough = lambda: min(iterations, max(5, seconds / np.median(times))) if times else iterations
    while len(times) < enough():
        tasks = sample()
        start = time.perf_counter()
        with np.errstate(all="ignore"):  # timing only: a setting that overflows on random tasks costs the same
            meta, state = adam(meta, meta_gradient(meta, tasks), state, META_LR)
        elapsed = time.perf_counter() - start
        if warmup:
            warmup -= 1
        else:
            times.append(elapsed)
    return 1e3 * float(np.median(times))


def sinusoids(rng, meta_batch, k):
    """sample() for ms_per_iteration: a fresh batch of sinusoid tasks, K = k support and query points."""
    return lambda: sinusoid.sample_tasks(rng, meta_batch, k, k)


def algorithm_costs(modules, args, rng):
    """{name: {("meta_batch", T) or ("inner_steps", s): ms}}, at the paper's setting except for the varied one."""
    costs = {}
    for name, module in modules.items():
        _, make_meta, meta_gradient = ALGORITHMS[name]
        costs[name] = {}
        for axis, values in (("meta_batch", args.meta_batches), ("inner_steps", args.inner_steps)):
            for value in values:
                T, s, lr = (value, 1, INNER_LR) if axis == "meta_batch" else (args.paper_meta_batch, value, SWEEP_LR)
                meta = make_meta(module, mlp.init(rng), s, lr)
                f = lambda meta, tasks: meta_gradient(module, meta, tasks, s, lr)
                costs[name][axis, value] = ms_per_iteration(f, meta, sinusoids(rng, T, args.k), args.iterations, args.seconds)
    return costs


def batched_against_loop(maml, args, rng):
    """[(T, batched ms, loop ms, largest difference)] for exact MAML: one batched call, or T calls on one task each."""
    rows = []
    for T in args.loop_meta_batches:
        batched = lambda params, tasks: grad(maml.meta_loss)(params, tasks, mlp.mse, INNER_LR, 1)

        def loop(params, tasks):
            one = lambda t: tasks._replace(**{f: getattr(tasks, f)[t:t + 1] for f in tasks._fields})
            per_task = [grad(maml.meta_loss)(params, one(t), mlp.mse, INNER_LR, 1) for t in range(T)]
            return [np.mean(gs, axis=0) for gs in zip(*per_task)]

        params, tasks = mlp.init(rng), sinusoid.sample_tasks(rng, T, args.k, args.k)
        difference = max(np.max(np.abs(a - b)) for a, b in zip(batched(params, tasks), loop(params, tasks)))
        rows.append((T, *(ms_per_iteration(f, params, sinusoids(rng, T, args.k), args.iterations, args.seconds)
                          for f in (batched, loop)), difference))
    return rows


def classification_costs(args, rng):
    """(the run's config, [(path, exact MAML ms, first-order MAML ms)], difference) on Omniglot 5-way 1-shot as `train --problem omniglot`
    runs it (train.OMNIGLOT: meta-batch 32, MLP 784-256-128-64-64-5, inner lr 2.0, one step), and the largest
    difference between the two paths' exact meta-gradients. "registry" is the training path itself,
    registry.ALGORITHMS[name].loss_and_grad at an iteration past any first-order phase (whatever faster path
    it takes, this times it); "plain" is grad of maml.meta_loss with mlp.cross_entropy_reference."""
    configs = {name: train.make_config(name, problem="omniglot", meta_batch=args.omniglot_tasks,
                                       hidden=list(args.omniglot_hidden)) for name in ("maml", "fomaml")}
    config = configs["maml"]
    sample = lambda: families.sample(rng, config, config["meta_batch"], "train")
    params = mlp.init(rng, families.sizes(config))

    def registry_path(name):
        loss_and_grad = registry.ALGORITHMS[name].loss_and_grad
        return lambda meta, tasks: loss_and_grad(meta, tasks, configs[name], configs[name]["iterations"])[1]

    def plain_path(first_order, loss=mlp.cross_entropy_reference):
        meta_loss = lambda p, tasks: maml.meta_loss(p, tasks, loss, config["inner_lr"], config["inner_steps"], first_order)
        return lambda meta, tasks: {"params": grad(meta_loss)(meta["params"], tasks)}

    paths = {"registry": (registry_path("maml"), registry_path("fomaml")), "plain": (plain_path(False), plain_path(True)),
             "hand-derived loss": (plain_path(False, mlp.cross_entropy), plain_path(True, mlp.cross_entropy))}
    rows = [(path, *(ms_per_iteration(f, {"params": params}, sample, args.iterations, args.seconds) for f in fs))
            for path, fs in paths.items()]
    tasks = sample()
    difference = max(np.max(np.abs(a - b)) for a, b in zip(paths["registry"][0]({"params": params}, tasks)["params"],
                                                            paths["plain"][0]({"params": params}, tasks)["params"]))
    return config, rows, difference


def peak_memory(modules, args, rng):
    """[(inner steps, exact MAML peak MB, first-order MAML peak MB, iMAML peak MB or None, iMAML with Newton
    steps peak MB or None)] for one meta-gradient (inner lr SWEEP_LR; iMAML, which does not unroll the inner loop,
    with reg 10 and 5 CG steps, and with Newton steps as `make reproduce` runs it: rate 1, 3 CG steps each, reg 30)."""
    rows = []
    for s in args.inner_steps:
        params, tasks = mlp.init(rng), sinusoid.sample_tasks(rng, args.paper_meta_batch, args.k, args.k)
        runs = [lambda fo=fo: grad(modules["maml"].meta_loss)(params, tasks, mlp.mse, SWEEP_LR, s, first_order=fo)
                for fo in (False, True)]
        if "imaml" in modules:
            runs.append(lambda: modules["imaml"].meta_gradient(params, tasks, mlp.mse, SWEEP_LR, s, 10.0, 5))
            runs.append(lambda: modules["imaml"].meta_gradient(params, tasks, mlp.mse, 1.0, s, 30.0, 5, newton_cg=3))
        peaks = []
        for f in runs:
            tracemalloc.start()
            f()
            peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
        rows.append((s, *peaks, *([None] * (4 - len(peaks)))))
    return rows


def classification_section(args, rng):
    """The classification table of classification_costs, and the goal for exact MAML beside what it measures."""
    config, rows, difference = classification_costs(args, rng)
    exact, paper = rows[0][1], all(config[key] == train.OMNIGLOT[key] for key in ("meta_batch", "hidden"))
    verdict = f"{'met' if exact <= 40 else 'not met'}" if paper else "not comparable: not the paper's setting"
    return "\n".join([
        f"\nOmniglot {config['ways']}-way {config['shots']}-shot, {config['meta_batch']} tasks, MLP "
        f"{'-'.join(map(str, families.sizes(config)))}, inner lr {config['inner_lr']}, {config['inner_steps']} step(s)",
        "registry: the training path, registry.ALGORITHMS[name].loss_and_grad (fastmaml.py, families.loss); "
        "plain: grad of maml.meta_loss with mlp.cross_entropy_reference; hand-derived loss: the same with "
        "mlp.cross_entropy (mlp_fast.py)",
        table(["path", "exact MAML ms", "first-order MAML ms"], [[p, f"{a:.2f}", f"{b:.2f}"] for p, a, b in rows]),
        f"exact meta-gradients, registry against plain: max |difference| {difference:.1e}",
        f"goal: exact MAML <= 40 ms; measured {exact:.2f} ms through the registry ({verdict})"])


def table(header, rows):
    """Plain-text table: a header row, then rows of strings, columns right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def plot(costs, args, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, axis, values, label in ((axes[0], "meta_batch", args.meta_batches, "meta-batch (tasks)"),
                                    (axes[1], "inner_steps", args.inner_steps, "inner steps")):
        for name, c in costs.items():
            ax.plot(values, [c[axis, v] for v in values], "o-", label=name)
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel="ms per meta-iteration")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"tinymeta: cost of one meta-iteration (K = {args.k}, MLP 1-40-40-1)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m tinymeta bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny settings, a few seconds (used by the tests)")
    p.add_argument("--iterations", type=int, default=50, metavar="N", help="timed iterations per cell at most")
    p.add_argument("--seconds", type=float, default=1.0, metavar="S", help="rough time budget per cell")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", metavar="PATH", help="also draw the scaling curves into this PNG file")
    args = p.parse_args(argv)
    if args.iterations < 1 or not args.seconds > 0:
        p.error(f"--iterations must be >= 1 and --seconds > 0, got {args.iterations} and {args.seconds}")
    args.k, args.paper_meta_batch = 10, 25
    args.meta_batches, args.inner_steps, args.loop_meta_batches = (1, 5, 25, 100, 400), (1, 2, 5, 10), (1, 5, 25)
    args.omniglot_tasks, args.omniglot_hidden = train.OMNIGLOT["meta_batch"], train.OMNIGLOT["hidden"]
    if args.quick:
        args.k, args.paper_meta_batch, args.iterations, args.seconds = 3, 3, 2, 0.01
        args.meta_batches, args.inner_steps, args.loop_meta_batches = (1, 3), (1, 2), (1, 2)
        args.omniglot_tasks, args.omniglot_hidden = 2, [8]
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    kept = malloc.keep_freed_memory()  # as train does
    rng = np.random.default_rng(args.seed)
    modules = available()
    threads = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS") or k == "OPENBLAS_CORETYPE"}
    print(f"python {platform.python_version()}, numpy {np.__version__}, autograd {version('autograd')}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}; {threads or 'no thread settings in the environment'}; "
          f"malloc keeps freed memory: {'yes' if kept else 'no'} (see tinymeta/lab/malloc.py)")
    print(f"setting: MLP 1-40-40-1, K = {args.k} support and query points, inner lr {INNER_LR}, "
          f"Adam {META_LR}; median ms per meta-iteration (meta-gradient + Adam, sampling excluded)\n")

    costs = algorithm_costs(modules, args, rng)
    paper = ("meta_batch", args.paper_meta_batch)
    header = ["algorithm", *(f"T={T}" for T in args.meta_batches), *(f"steps={s}" for s in args.inner_steps)]
    rows = [[name, *(f"{c['meta_batch', T]:.2f}" for T in args.meta_batches),
             *(f"{c['inner_steps', s]:.2f}" for s in args.inner_steps)] for name, c in costs.items()]
    print(f"ms per meta-iteration: meta-batch T (1 inner step, inner lr {INNER_LR}) and inner steps "
          f"(T = {args.paper_meta_batch}, inner lr {SWEEP_LR})")
    print(table(header, rows))
    print(f"\n{'quick setting' if args.quick else 'paper setting'} (T = {args.paper_meta_batch}, 1 step): "
          + ", ".join(f"{name} {c[paper]:.2f} ms" for name, c in costs.items()))

    maml = modules["maml"]
    print(f"\nexact MAML at T = {args.paper_meta_batch}, 1 step: the loss with hand-derived derivatives against "
          "the plain forward differentiated op by op (tutorials/08-fast-gradients.md)")
    rows = []
    for loss in (mlp.mse, mlp.mse_reference):
        f = lambda params, tasks: grad(maml.meta_loss)(params, tasks, loss, INNER_LR, 1)
        ms = ms_per_iteration(f, mlp.init(rng), sinusoids(rng, args.paper_meta_batch, args.k), args.iterations, args.seconds)
        rows.append([f"mlp.{loss.__name__}", f"{ms:.2f}"])
    print(table(["loss", "ms"], rows))

    print("\nexact MAML, batched over tasks against a Python loop over tasks (1 inner step)")
    rows = [[T, f"{b:.2f}", f"{l:.2f}", f"{l / b:.1f}x", f"{d:.1e}"]
            for T, b, l, d in batched_against_loop(maml, args, rng)]
    print(table(["T", "batched ms", "loop ms", "loop / batched", "max |difference|"], rows))

    print(f"\npeak memory of one meta-gradient (tracemalloc, T = {args.paper_meta_batch}): unrolled MAML grows with the steps")
    rows = [[s, f"{a:.2f}", f"{b:.2f}", *("" if c is None else f"{c:.2f}" for c in cs)]
            for s, a, b, *cs in peak_memory(modules, args, rng)]
    print(table(["inner steps", "exact MAML MB", "first-order MAML MB", "iMAML MB (no unrolling)", "iMAML Newton MB"], rows))

    print(classification_section(args, rng))

    if args.png:
        plot(costs, args, args.png)
        print(f"\nwrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
