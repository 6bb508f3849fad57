"""Meta-training on the tasks of a family (families.py): the run's configuration, seeded task streams, the loop.

The loop is the same for every algorithm of registry.ALGORITHMS: sample a meta-batch from the run's
task stream, ask the algorithm for its meta-loss and gradient, take an Adam step (optim.py) on the
whole meta dict. A run lives in a folder: config.json (the full configuration) and checkpoint.npz
(checkpoint.py), so that a stopped run resumes bit for bit.
"""
import os
import signal
import time

import numpy as np

from tinymeta import mlp, omniglot
from tinymeta.lab import checkpoint, families
from tinymeta.lab.optim import adam, clip, flatten
from tinymeta.lab.progress import Progress
from tinymeta.lab.registry import ALGORITHMS

# Finn et al. 2017, section 5.1 (sinusoid regression); `hidden` are the MLP's hidden widths.
DEFAULTS = dict(shots=10, meta_batch=25, inner_lr=0.01, inner_steps=1, meta_lr=0.001, cosine=False,
                iterations=70000, seed=0, hidden=[40, 40])
# Omniglot 5-way 1-shot as Finn et al. 2017 train it (section 5.2 and appendix A.1): their MLP without
# convolutions, 784-256-128-64-64-N (they put batch norm after each hidden layer; we do not), one inner step of
# rate 0.4, meta-batch 32, Adam 0.001, as many query drawings per class as support ones (their main.py), each
# class turned by a random multiple of 90 degrees in training; 60,000 iterations as the paper states (the
# usage line of their main.py says 40,000). `queries` is set to `shots` unless given.
# Their rate 0.4 steps on the cross-entropy summed over the N classes (cbfinn/maml, utils.py `xent` divides each
# drawing's loss by K, and tf.gradients sums over the N*K drawings): on our mean over the N*K drawings that is a
# rate of 0.4 * N, 2.0 at 5-way.
OMNIGLOT = dict(problem="omniglot", ways=5, shots=1, queries=None, meta_batch=32, inner_lr=2.0, inner_steps=1,
                meta_lr=0.001, cosine=False, iterations=60000, seed=0, hidden=[256, 128, 64, 64], rotate=True)
# Settings a run has only when given, so that configurations written before they existed stay as they were.
OPTIONAL = dict(clip=0.0)  # clip: the largest norm of a meta-gradient handed to Adam (0: no clipping)
# background: meta-train on every character of one minimal set, or both, holding none out (families.BACKGROUNDS);
# with_validation: meta-train on the split's validation characters too, for a run whose settings are chosen
OMNIGLOT_OPTIONAL = dict(background=None, with_validation=False)
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
    """The full configuration: the family's defaults (DEFAULTS, or OMNIGLOT if given problem="omniglot"),
    the algorithm's own options, then `given` (which may add OPTIONAL ones, and problem="sinusoid")."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")
    problem = given.get("problem", "sinusoid")
    if problem not in families.PROBLEMS:
        raise ConfigError(f"unknown problem {problem!r}; choose from {', '.join(families.PROBLEMS)}")
    defaults = OMNIGLOT if problem == "omniglot" else DEFAULTS
    options = ALGORITHMS[algorithm].options or {}
    optional = {**OPTIONAL, **(OMNIGLOT_OPTIONAL if problem == "omniglot" else {})}
    unknown = set(given) - set(defaults) - set(options) - set(optional) - {"problem"}
    if unknown:
        omniglot_only = set(OMNIGLOT) - set(DEFAULTS) | set(OMNIGLOT_OPTIONAL)
        raise ConfigError(f"{algorithm} does not take {', '.join(sorted(unknown))}" +
                          (" (those are for --problem omniglot)" if unknown <= omniglot_only else ""))
    config = {"algorithm": algorithm, **defaults, **options, **given}
    if problem == "omniglot":
        config["queries"] = config["queries"] or config["shots"]
        check_omniglot(config)
    if config.get("msl_iterations") and config["inner_steps"] < 2:
        raise ConfigError(f"--msl-iterations {config['msl_iterations']} needs --inner-steps 2 or more "
                          f"(got {config['inner_steps']}): the multi-step loss of one step is the plain loss")
    return config


def meta_lr(config, iteration):
    """The Adam rate at `iteration` (from 1): constant, or with --cosine annealed from meta_lr toward 0
    over the run's iterations, meta_lr (1 + cos(pi (iteration - 1) / iterations)) / 2 (as in MAML++)."""
    if not config.get("cosine"):
        return config["meta_lr"]
    return config["meta_lr"] * 0.5 * (1 + np.cos(np.pi * (iteration - 1) / config["iterations"]))


def check_omniglot(config):
    """Raise a ConfigError if the run's tasks cannot be drawn from every part of the characters it uses
    (families.parts: the split's three, or the background set alone)."""
    background = config.get("background")
    if background is not None and background not in families.BACKGROUNDS:
        raise ConfigError(f"--background {background!r} is not one of {', '.join(families.BACKGROUNDS)}")
    counts = {part: len(families.of(config, part)) for part in families.parts(config)}
    smallest = min(counts, key=counts.get)
    if config["ways"] > counts[smallest]:
        where = f"background set {background}" if background else f"smallest part ({smallest}) of the split"
        raise ConfigError(f"--ways {config['ways']} is more than the {counts[smallest]} characters of the {where}")
    if config["shots"] + config["queries"] > omniglot.DRAWINGS:
        raise ConfigError(f"--shots {config['shots']} and --queries {config['queries']} need more than the "
                          f"{omniglot.DRAWINGS} drawings of a character")


def sizes(config):
    """The network's layer widths: the inputs (plus CAVIA's context inputs), the hidden layers, the outputs."""
    return families.sizes(config)


def start(run_dir, config):
    """Create a run: the folder, config.json and a checkpoint at iteration 0.

    The folder is made only once the network and Adam's state exist, so a network too large for
    memory leaves nothing behind.
    """
    rng = task_stream(config["seed"], "train")
    try:
        meta = ALGORITHMS[config["algorithm"]].init(mlp.init(rng, sizes(config)), config)
    except ValueError as e:  # a setting the algorithm refuses
        raise ConfigError(str(e)) from None
    n = flatten(meta)[0].size
    state = dict(meta=meta, adam=(0, np.zeros(n), np.zeros(n)), rng=rng, iteration=0, history=[])
    os.makedirs(run_dir, exist_ok=True)
    checkpoint.write_config(run_dir, config)
    checkpoint.save(run_dir, state, config)


def load(run_dir):
    """(config, state, algorithm) of the run in run_dir, its checkpoint checked against its config.

    Refuses a checkpoint whose meta-parameters or Adam state are not finite: nothing can be evaluated,
    plotted or resumed from it (training never saves one; an older version could).
    """
    config, state = checkpoint.load(run_dir)
    path = os.path.join(run_dir, "checkpoint.npz")
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
        raise checkpoint.CheckpointError(f"{path} does not match {os.path.join(run_dir, 'config.json')}")
    arrays = dict(checkpoint.leaves(state["meta"], "meta"), **{"adam/m": state["adam"][1], "adam/v": state["adam"][2]})
    for key, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise checkpoint.CheckpointError(f"{path} holds non-finite numbers ({key}): nothing can be "
                                             f"evaluated, plotted or resumed from it")
    return config, state, algorithm


class OutOfMemory(ConfigError):
    """A run or an evaluation too large for this machine's memory; the message names the sizes asked for.
    `done`: the iterations the run had completed (its checkpoint), for a caller that cleans up."""

    def __init__(self, message, done=None):
        super().__init__(message)
        self.done = done


class Stopped(KeyboardInterrupt):
    """Training stopped by SIGINT (Ctrl-C) or SIGTERM (kill, timeout, batch schedulers), checkpoint saved."""

    def __init__(self, signum, message):
        super().__init__(message)
        self.signum = signum


EXPLODING = 1000  # a meta-loss this many times that of predicting 0 gets a warning (see run)


def run(run_dir, iterations, quiet=False):
    """Continue the run in `run_dir` to `iterations` meta-updates in total; returns (config, state).

    Checkpoints every CHECKPOINT_SECONDS and at the end. SIGINT (Ctrl-C) and SIGTERM save a
    checkpoint and raise Stopped, a KeyboardInterrupt. Resuming is bit-identical to never stopping.

    Divergence: if the meta-loss or its gradient is not finite, the meta-parameters it was computed at
    came from the update before, so training goes back to the state before that update (the last whose
    meta-loss was finite), saves it and raises FloatingPointError; so does an update whose result is not
    finite (Adam's rate too large). A meta-loss above EXPLODING times the loss of predicting 0
    (families.null_loss) gets a warning on stderr, once. Running out of memory saves the last complete
    iteration and raises OutOfMemory.
    """
    config, state, algorithm = load(run_dir)
    if iterations < state["iteration"]:
        raise ConfigError(f"--iterations {iterations} is fewer than the {state['iteration']} already done in {run_dir}")
    config["iterations"] = iterations
    checkpoint.write_config(run_dir, config)
    rng, progress = state["rng"], Progress(config["algorithm"], state["iteration"], iterations, quiet)
    stopped, warned = [], False
    previous = {s: signal.signal(s, lambda signum, _: stopped.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    before_update = None  # (meta, adam, generator state before its meta-batch) of the state before the last update
    try:
        saved = time.monotonic()
        while state["iteration"] < iterations and not stopped:
            rng_before = rng.bit_generator.state
            i = state["iteration"] + 1
            try:
                tasks = families.sample(rng, config, config["meta_batch"], "train")
                with np.errstate(all="ignore"):  # overflow is caught just below, with the iteration named
                    loss, grads = algorithm.loss_and_grad(state["meta"], tasks, config, i)
                    finite = np.isfinite(loss) and np.all(np.isfinite(flatten(grads)[0]))
                    if finite:
                        if config.get("clip"):  # a rare task whose inner loop explodes must not throw Adam off
                            grads = clip(grads, config["clip"])
                        meta, adam_state = adam(state["meta"], grads, state["adam"], meta_lr(config, i))
            except MemoryError as e:
                rng.bit_generator.state = rng_before  # as after the last complete iteration
                checkpoint.save(run_dir, state, config)
                raise OutOfMemory(f"out of memory at iteration {i} with --meta-batch {config['meta_batch']}, "
                                  f"--shots {config['shots']}, --hidden {' '.join(map(str, config['hidden']))} "
                                  f"({e or 'MemoryError'})", done=state["iteration"]) from None
            if not finite:
                if before_update is not None:  # the meta-parameters of iteration i - 1 gave this loss: go back
                    state["meta"], state["adam"], rng_before = before_update
                    state["iteration"] -= 1
                    state["history"].pop()
                rng.bit_generator.state = rng_before  # as after the iteration kept
                checkpoint.save(run_dir, state, config)
                raise FloatingPointError(f"meta-loss {loss} at iteration {i}: training stopped; checkpoint of "
                                         f"iteration {state['iteration']} kept in {run_dir}" +
                                         (f" (the meta-parameters of iteration {i - 1} gave that loss)"
                                          if state["iteration"] < i - 1 else ""))
            if not all(np.all(np.isfinite(a)) for a in (flatten(meta)[0], *adam_state[1:])):
                rng.bit_generator.state = rng_before
                checkpoint.save(run_dir, state, config)
                raise FloatingPointError(f"the update of iteration {i} overflowed (--meta-lr {config['meta_lr']}): "
                                         f"training stopped; checkpoint of iteration {i - 1} kept in {run_dir}")
            before_update = (state["meta"], state["adam"], rng_before)
            state["meta"], state["adam"] = meta, adam_state
            state["iteration"] = i
            state["history"].append(float(loss))
            progress.update(i, float(loss))
            if not warned and loss > EXPLODING * families.null_loss(config, tasks):
                warned = progress.note(f"warning: meta-loss {float(loss):.3g} at iteration {i} is over {EXPLODING} "
                                       f"times that of predicting 0 ({families.null_loss(config, tasks):.3g}): training "
                                       f"looks diverged; a smaller --inner-lr or --meta-lr may help")
            if time.monotonic() - saved > CHECKPOINT_SECONDS:
                checkpoint.save(run_dir, state, config)
                saved = time.monotonic()
        checkpoint.save(run_dir, state, config)
        progress.close()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stopped:
        how = "interrupted" if stopped[0] == signal.SIGINT else f"stopped by {signal.Signals(stopped[0]).name}"
        raise Stopped(stopped[0], f"{how} at iteration {state['iteration']}; checkpoint saved in {run_dir}")
    return config, state
