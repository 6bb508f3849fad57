"""Meta-training on sinusoid tasks: the algorithm registry, Adam, seeded task streams, the loop.

Every algorithm is three small functions over a meta-parameter dict {"params": [...], ...}:

    init(params, config)                       -> meta
    loss_and_grad(meta, tasks, config, iteration) -> (meta-loss float, gradient shaped like meta)
    adapt(meta, x, y, config, steps)           -> fast weights, arrays of shape (T,) + p.shape

(`iteration` counts from 1, for schedules). The loop is the same for all of them: sample a
meta-batch, take an Adam step on the whole meta dict. Adding an algorithm is its three functions
and one entry, e.g. ALGORITHMS["metasgd"] = Algorithm(init, loss_and_grad, adapt, options={"lr_init": 0.01});
each option becomes config["lr_init"] and a --lr-init flag of `train`.
A run lives in a folder: config.json (the full configuration) and checkpoint.npz (see checkpoint.py).
"""
import json
import os
import signal
import sys
import time
from collections import namedtuple

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from tinymeta import anil, checkpoint, enhanced, lslr, maml, metacurvature, metasgd, mlp, reptile, sinusoid

Algorithm = namedtuple("Algorithm", "init loss_and_grad adapt options", defaults=(None,))
Algorithm.__doc__ = """init, loss_and_grad, adapt as in the module docstring; options: {name: default}
of extra configuration this algorithm reads (each becomes a --flag of `train`)."""


def sgd_adapt(meta, x, y, config, steps):
    """Plain SGD from meta["params"] with the run's inner learning rate (MAML's test-time adaptation)."""
    return maml.adapt(meta["params"], x, y, mlp.mse, config["inner_lr"], steps)


def first_order(config, iteration):
    """MAML++ derivative-order annealing: first-order for the first --first-order-iterations, then exact."""
    return iteration <= config.get("first_order_iterations", 0)


def maml_loss_and_grad(meta, tasks, config, iteration, first_order_always=False):
    """MAML's meta-loss and its exact (or first-order) gradient: autograd through maml.meta_loss."""
    loss, g = value_and_grad(maml.meta_loss)(meta["params"], tasks, mlp.mse, config["inner_lr"], config["inner_steps"],
                                             first_order_always or first_order(config, iteration))
    return loss, {"params": g}


def fomaml_loss_and_grad(meta, tasks, config, iteration):
    return maml_loss_and_grad(meta, tasks, config, iteration, first_order_always=True)


def metasgd_loss_and_grad(meta, tasks, config, iteration):
    return value_and_grad(metasgd.meta_loss)(meta, tasks, mlp.mse, config["inner_steps"],
                                             first_order(config, iteration))


def lslr_loss_and_grad(meta, tasks, config, iteration):
    return value_and_grad(lslr.meta_loss)(meta, tasks, mlp.mse, first_order(config, iteration))


def metacurvature_loss_and_grad(meta, tasks, config, iteration):
    return value_and_grad(metacurvature.meta_loss)(meta, tasks, mlp.mse, config["inner_lr"], config["inner_steps"],
                                                   first_order(config, iteration))


def enhanced_loss_and_grad(meta, tasks, config, iteration):
    """With --msl-iterations N: the MAML++ multi-step loss, its weights annealed over the first N iterations."""
    weights = None
    if iteration <= config["msl_iterations"]:
        weights = enhanced.msl_weights(config["inner_steps"], iteration - 1, config["msl_iterations"])
    return value_and_grad(enhanced.meta_loss)(meta, tasks, mlp.mse, weights, first_order(config, iteration))


def anil_loss_and_grad(meta, tasks, config, iteration):
    loss, g = value_and_grad(anil.meta_loss)(meta["params"], tasks, mlp.mse, config["inner_lr"],
                                             config["inner_steps"], first_order(config, iteration))
    return loss, {"params": g}


def reptile_loss_and_grad(meta, tasks, config, iteration):
    """Reptile's direction theta - mean_t theta~_t, handed to Adam as a gradient (Nichol et al. 2018).

    The loss reported is the query loss at the adapted weights, the quantity MAML's curve shows.
    The direction is reptile.meta_gradient's line, written out so the adapted weights serve both
    (tests check it equals reptile.meta_gradient exactly).
    """
    params = meta["params"]
    fast = reptile.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, config["inner_lr"],
                         config["inner_steps"])
    loss = np.mean(mlp.mse(fast, tasks.x_query, tasks.y_query))
    return loss, {"params": [p - np.mean(w, axis=0) for p, w in zip(params, fast)]}


def pretrain_loss_and_grad(meta, tasks, config, iteration):
    """The baseline: one network trained on all tasks jointly, by regression on every point of the
    meta-batch (support and query); at test time it is fine-tuned by SGD like MAML (Finn et al. 2017)."""
    x = np.concatenate([tasks.x_support, tasks.x_query], axis=1)  # (T, 2K, 1)
    y = np.concatenate([tasks.y_support, tasks.y_query], axis=1)
    loss, g = value_and_grad(lambda p: anp.mean(mlp.mse(p, x, y)))(meta["params"])
    return loss, {"params": g}


def params_only(params, config):
    """The meta-parameters of algorithms that learn only an initialisation."""
    return {"params": params}


def metasgd_adapt(meta, x, y, config, steps):
    return metasgd.adapt(meta, x, y, mlp.mse, steps)


def lslr_adapt(meta, x, y, config, steps):
    return lslr.adapt(meta, x, y, mlp.mse, steps)


def metacurvature_adapt(meta, x, y, config, steps):
    return metacurvature.adapt(meta, x, y, mlp.mse, config["inner_lr"], steps)


def enhanced_adapt(meta, x, y, config, steps):
    return enhanced.adapt(meta, x, y, mlp.mse, steps)


def anil_adapt(meta, x, y, config, steps):
    return anil.adapt(meta["params"], x, y, mlp.mse, config["inner_lr"], steps)


ANNEAL = {"first_order_iterations": 0}  # every second-order algorithm takes MAML++'s derivative-order annealing
ALGORITHMS = {
    "maml": Algorithm(params_only, maml_loss_and_grad, sgd_adapt, ANNEAL),
    "fomaml": Algorithm(params_only, fomaml_loss_and_grad, sgd_adapt),
    "reptile": Algorithm(params_only, reptile_loss_and_grad, sgd_adapt),
    "pretrain": Algorithm(params_only, pretrain_loss_and_grad, sgd_adapt),
    "metasgd": Algorithm(lambda params, config: metasgd.init(params, config["inner_lr"]),
                         metasgd_loss_and_grad, metasgd_adapt, ANNEAL),
    "lslr": Algorithm(lambda params, config: lslr.init(params, config["inner_steps"], config["inner_lr"]),
                      lslr_loss_and_grad, lslr_adapt, ANNEAL),
    "metacurvature": Algorithm(lambda params, config: metacurvature.init(params),
                               metacurvature_loss_and_grad, metacurvature_adapt, ANNEAL),
    "enhanced": Algorithm(lambda params, config: enhanced.init(params, config["inner_steps"], config["inner_lr"]),
                          enhanced_loss_and_grad, enhanced_adapt, dict(ANNEAL, msl_iterations=0)),
    "anil": Algorithm(params_only, anil_loss_and_grad, anil_adapt, ANNEAL),
}

# Finn et al. 2017, section 5.1 (sinusoid regression); `hidden` are the MLP's hidden widths.
DEFAULTS = dict(shots=10, meta_batch=25, inner_lr=0.01, inner_steps=1, meta_lr=0.001, cosine=False,
                iterations=70000, seed=0, hidden=[40, 40])
STREAMS = {"train": 0, "evaluate": 1, "validation": 2}
CHECKPOINT_SECONDS = 60


class ConfigError(ValueError):
    """A configuration or request that cannot be run; the message is one line naming the bad value."""


def task_stream(seed, purpose):
    """The generator for one purpose ("train", "evaluate", "validation") of a seed.

    Each purpose gets its own spawn key, so the streams never coincide, even for equal seeds:
    evaluation tasks are never training tasks.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAMS[purpose],)))


def validation_stream(seed):
    return task_stream(seed, "validation")


def make_config(algorithm, **given):
    """The full configuration: DEFAULTS, the algorithm's own options, then `given`."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")
    options = ALGORITHMS[algorithm].options or {}
    unknown = set(given) - set(DEFAULTS) - set(options)
    if unknown:
        raise ConfigError(f"{algorithm} does not take {', '.join(sorted(unknown))}")
    return {"algorithm": algorithm, **DEFAULTS, **options, **given}


def meta_lr(config, iteration):
    """The Adam rate at `iteration` (from 1): constant, or with --cosine annealed from meta_lr toward 0
    over the run's iterations, meta_lr (1 + cos(pi (iteration - 1) / iterations)) / 2 (as in MAML++)."""
    if not config.get("cosine"):
        return config["meta_lr"]
    return config["meta_lr"] * 0.5 * (1 + np.cos(np.pi * (iteration - 1) / config["iterations"]))


def flatten(tree):
    """(vector, unflatten): every array in a nest of dicts and lists, raveled into one float64 vector
    in autograd.misc.flatten's order (dict keys sorted), and the function that puts a vector back.
    Written out because autograd's version records itself for differentiation: a tenth of a
    meta-iteration (`make bench`)."""
    arrays = list(leaves(tree))
    ends = np.cumsum([a.size for a in arrays])[:-1]

    def unflatten(vector):
        parts = iter(a.reshape(b.shape) for a, b in zip(np.split(vector, ends), arrays))

        def build(t):
            if isinstance(t, dict):
                built = {k: build(t[k]) for k in sorted(t)}
                return {k: built[k] for k in t}  # in the order the dict had
            if isinstance(t, (list, tuple)):
                return type(t)(build(a) for a in t)
            return next(parts)
        return build(tree)
    return np.concatenate([a.ravel() for a in arrays]), unflatten


def leaves(tree):
    """The arrays of a nest of dicts (keys sorted) and lists, in order."""
    if isinstance(tree, dict):
        for k in sorted(tree):
            yield from leaves(tree[k])
    elif isinstance(tree, (list, tuple)):
        for t in tree:
            yield from leaves(t)
    else:
        yield np.asarray(tree, dtype=float)


def adam(meta, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step (Kingma & Ba 2015) on a whole meta dict; state = (t, m, v) over its flat vector."""
    theta, unflatten = flatten(meta)
    g, _ = flatten(grads)
    t, m, v = state
    t, m, v = t + 1, beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g ** 2
    step = lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return unflatten(theta - step), (t, m, v)


def start(run_dir, config):
    """Create a run: the folder, config.json and a checkpoint at iteration 0."""
    rng = task_stream(config["seed"], "train")
    meta = ALGORITHMS[config["algorithm"]].init(mlp.init(rng, (1, *config["hidden"], 1)), config)
    n = flatten(meta)[0].size
    state = dict(meta=meta, adam=(0, np.zeros(n), np.zeros(n)), rng=rng, iteration=0, history=[])
    os.makedirs(run_dir, exist_ok=True)
    write_config(run_dir, config)
    checkpoint.save(run_dir, state)


def load(run_dir):
    """(config, state, algorithm) of the run in run_dir, its checkpoint checked against its config."""
    config, state = checkpoint.load(run_dir)
    try:
        algorithm = ALGORITHMS[config["algorithm"]]
        template = algorithm.init(mlp.init(np.random.default_rng(0), (1, *config["hidden"], 1)), config)
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{os.path.join(run_dir, 'config.json')} is not a usable configuration "
                          f"({type(e).__name__}: {e})") from None
    shapes = {k: np.shape(a) for k, a in checkpoint.leaves(template, "meta").items()}
    n = sum(np.prod(s, dtype=int) for s in shapes.values())
    if shapes != {k: np.shape(a) for k, a in checkpoint.leaves(state["meta"], "meta").items()} or \
            np.shape(state["adam"][1]) != (n,) or np.shape(state["adam"][2]) != (n,):
        raise checkpoint.CheckpointError(f"{os.path.join(run_dir, 'checkpoint.npz')} does not match "
                                         f"{os.path.join(run_dir, 'config.json')}")
    return config, state, algorithm


def write_config(run_dir, config):
    """run_dir/config.json, replaced atomically like the checkpoint."""
    temporary = os.path.join(run_dir, ".config.json.tmp")
    with open(temporary, "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, os.path.join(run_dir, "config.json"))


def run(run_dir, iterations, quiet=False):
    """Continue the run in `run_dir` to `iterations` meta-updates in total; returns (config, state).

    Checkpoints every CHECKPOINT_SECONDS and at the end. Ctrl-C saves a checkpoint and raises
    KeyboardInterrupt. A non-finite meta-loss or gradient raises FloatingPointError after saving
    the last good state. Resuming is bit-identical to never stopping.
    """
    config, state, algorithm = load(run_dir)
    if iterations < state["iteration"]:
        raise ConfigError(f"--iterations {iterations} is fewer than the {state['iteration']} already done in {run_dir}")
    config["iterations"] = iterations
    write_config(run_dir, config)
    rng, progress = state["rng"], Progress(config["algorithm"], state["iteration"], iterations, quiet)
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        saved = time.monotonic()
        while state["iteration"] < iterations and not interrupted:
            rng_before = rng.bit_generator.state
            tasks = sinusoid.sample_tasks(rng, config["meta_batch"], config["shots"], config["shots"])
            with np.errstate(all="ignore"):  # overflow is caught just below, with the iteration named
                loss, grads = algorithm.loss_and_grad(state["meta"], tasks, config, state["iteration"] + 1)
            if not (np.isfinite(loss) and np.all(np.isfinite(flatten(grads)[0]))):
                rng.bit_generator.state = rng_before  # the state after the last good iteration
                checkpoint.save(run_dir, state)
                raise FloatingPointError(f"meta-loss {loss} at iteration {state['iteration'] + 1}: training stopped; "
                                         f"checkpoint of iteration {state['iteration']} kept in {run_dir}")
            state["meta"], state["adam"] = adam(state["meta"], grads, state["adam"],
                                                meta_lr(config, state["iteration"] + 1))
            state["iteration"] += 1
            state["history"].append(float(loss))
            progress.update(state["iteration"], float(loss))
            if time.monotonic() - saved > CHECKPOINT_SECONDS:
                checkpoint.save(run_dir, state)
                saved = time.monotonic()
        checkpoint.save(run_dir, state)
        progress.close()
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt(f"interrupted at iteration {state['iteration']}; checkpoint saved in {run_dir}")
    return config, state


class Progress:
    """Iteration, smoothed meta-loss, it/s and time left on stderr: one updating line on a
    terminal, otherwise a line every ~10%; nothing when quiet."""

    def __init__(self, name, first, total, quiet, stream=None):
        self.name, self.first, self.total, self.quiet = name, first, total, quiet
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = self.shown = time.monotonic()
        self.smooth = None
        self.next_mark = first + 1  # a first line at once, then one every ~10%

    def update(self, iteration, loss):
        self.smooth = loss if self.smooth is None else 0.98 * self.smooth + 0.02 * loss
        now = time.monotonic()
        if self.quiet or (self.tty and now - self.shown < 0.2 and iteration < self.total):
            return
        if not self.tty and iteration < self.next_mark and iteration < self.total:
            return
        step = max(1, (self.total - self.first) // 10)
        self.shown, self.next_mark = now, self.first + ((iteration - self.first) // step + 1) * step
        rate = (iteration - self.first) / max(now - self.t0, 1e-9)
        hours, seconds = divmod(int((self.total - iteration) / max(rate, 1e-9)), 3600)
        left = (f"{hours}:" if hours else "") + f"{seconds // 60:02d}:{seconds % 60:02d}"
        line = f"{self.name} {iteration}/{self.total}  loss {self.smooth:.4g}  {rate:.1f} it/s  left {left}"
        self.stream.write(f"\r{line}\033[K" if self.tty else line + "\n")
        self.stream.flush()

    def close(self):
        if self.tty and not self.quiet and self.smooth is not None:
            self.stream.write("\n")
