"""Meta-training on sinusoid tasks: the run's configuration, seeded task streams, and the loop.

The loop is the same for every algorithm of registry.ALGORITHMS: sample a meta-batch from the run's
task stream, ask the algorithm for its meta-loss and gradient, take an Adam step (optim.py) on the
whole meta dict. A run lives in a folder: config.json (the full configuration) and checkpoint.npz
(checkpoint.py), so that a stopped run resumes bit for bit.
"""
import os
import signal
import time

import numpy as np

from tinymeta import mlp, sinusoid
from tinymeta.lab import checkpoint
from tinymeta.lab.optim import adam, clip, flatten
from tinymeta.lab.progress import Progress
from tinymeta.lab.registry import ALGORITHMS

# Finn et al. 2017, section 5.1 (sinusoid regression); `hidden` are the MLP's hidden widths.
DEFAULTS = dict(shots=10, meta_batch=25, inner_lr=0.01, inner_steps=1, meta_lr=0.001, cosine=False,
                iterations=70000, seed=0, hidden=[40, 40])
# Settings a run has only when given, so that configurations written before they existed stay as they were.
OPTIONAL = dict(clip=0.0)  # clip: the largest norm of a meta-gradient handed to Adam (0: no clipping)
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
    """The full configuration: DEFAULTS, the algorithm's own options, then `given` (which may add OPTIONAL ones)."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")
    options = ALGORITHMS[algorithm].options or {}
    unknown = set(given) - set(DEFAULTS) - set(options) - set(OPTIONAL)
    if unknown:
        raise ConfigError(f"{algorithm} does not take {', '.join(sorted(unknown))}")
    return {"algorithm": algorithm, **DEFAULTS, **options, **given}


def meta_lr(config, iteration):
    """The Adam rate at `iteration` (from 1): constant, or with --cosine annealed from meta_lr toward 0
    over the run's iterations, meta_lr (1 + cos(pi (iteration - 1) / iterations)) / 2 (as in MAML++)."""
    if not config.get("cosine"):
        return config["meta_lr"]
    return config["meta_lr"] * 0.5 * (1 + np.cos(np.pi * (iteration - 1) / config["iterations"]))


def sizes(config):
    """The network's layer widths: x, plus CAVIA's context inputs, then the hidden layers, then y."""
    return (1 + config.get("n_context", 0), *config["hidden"], 1)


def start(run_dir, config):
    """Create a run: the folder, config.json and a checkpoint at iteration 0."""
    rng = task_stream(config["seed"], "train")
    try:
        meta = ALGORITHMS[config["algorithm"]].init(mlp.init(rng, sizes(config)), config)
    except ValueError as e:  # a setting the algorithm refuses
        raise ConfigError(str(e)) from None
    n = flatten(meta)[0].size
    state = dict(meta=meta, adam=(0, np.zeros(n), np.zeros(n)), rng=rng, iteration=0, history=[])
    os.makedirs(run_dir, exist_ok=True)
    checkpoint.write_config(run_dir, config)
    checkpoint.save(run_dir, state)


def load(run_dir):
    """(config, state, algorithm) of the run in run_dir, its checkpoint checked against its config."""
    config, state = checkpoint.load(run_dir)
    try:
        algorithm = ALGORITHMS[config["algorithm"]]
        template = algorithm.init(mlp.init(np.random.default_rng(0), sizes(config)), config)
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
    checkpoint.write_config(run_dir, config)
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
            if config.get("clip"):  # a rare task whose inner loop explodes must not throw Adam off
                grads = clip(grads, config["clip"])
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
