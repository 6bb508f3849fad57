"""The task families a run can meta-learn, as training, evaluation and plots see them: config["problem"] is
"sinusoid" (regression, the default: configurations written before there was a choice have no "problem") or
"omniglot" (N-way K-shot classification of handwritten characters).

    problem(config)                     -> "sinusoid" or "omniglot"
    loss(config)                        -> the model's loss per task: mlp.mse or mlp.cross_entropy
    sizes(config)                       -> the network's layer widths
    sample(rng, config, n_tasks, part)  -> a batch of tasks from the "train", "validation" or "test" part

An Omniglot run with a `background` ("small1", "small2" or "both": BACKGROUNDS) meta-trains on every character of
that set and holds none out: it is tested on Lake et al.'s 20 runs of the evaluation set, as Lake et al. trained on
the minimal background sets. A run without one trains, chooses and tests on a split of both sets (`characters`).
"""
from functools import lru_cache

import numpy as np

from tinymeta import mlp, omniglot, sinusoid

PROBLEMS = ("sinusoid", "omniglot")
PARTS = ("train", "validation", "test")
TURNS = 4  # with rotate, each training character is four classes: turned by 0, 90, 180 and 270 degrees
BACKGROUNDS = {"small1": omniglot.MINIMAL_SETS[0], "small2": omniglot.MINIMAL_SETS[1], "both": omniglot.MINIMAL_SETS}


def problem(config):
    return config.get("problem", "sinusoid")


def loss(config):
    """Squared error for regression, softmax cross-entropy for classification. Omniglot trains on cross-entropy's
    plain autograd path: there, with 256-wide layers copied per task, the arithmetic outweighs the bookkeeping that
    mlp_fast.py saves, and its primitives, each running the forward pass again, came out slower (`make bench`)."""
    return mlp.cross_entropy_reference if problem(config) == "omniglot" else mlp.mse


def sizes(config):
    """Inputs (x, or a 28 x 28 image as 784 pixels, plus CAVIA's context inputs), the hidden widths, outputs."""
    if problem(config) == "omniglot":
        return (omniglot.SIZE ** 2 + config.get("n_context", 0), *config["hidden"], config["ways"])
    return (1 + config.get("n_context", 0), *config["hidden"], 1)


def parts(config):
    """The parts a run's tasks can be drawn from: "train" alone for a run with a background, "train" and "test"
    for one that trains on the validation characters too, else all three."""
    if config.get("background"):
        return ("train",)
    return ("train", "test") if config.get("with_validation") else PARTS


def of(config, part):
    """The images of `part` for the run of `config` (its background set, or its split; see `characters`)."""
    return characters(part, config.get("background"), bool(config.get("with_validation")))


@lru_cache(maxsize=None)
def characters(part, background=None, with_validation=False):
    """The images of one part ("train", "validation", "test") of omniglot.split of the shipped characters; with
    `with_validation` the "train" part holds the validation characters too (a run whose settings are chosen
    already), and there is no validation part. With a `background` (a key of BACKGROUNDS) every character of that
    set is the "train" part, the only one (kept: every meta-batch draws from them)."""
    if background is None:
        train, validation, test = omniglot.split(omniglot.load().images)
        if with_validation and part == "validation":
            raise ValueError("a run that trains on the validation characters holds none out for validation")
        if with_validation and part == "train":
            return np.concatenate([train, validation])
        return dict(zip(PARTS, (train, validation, test)))[part]
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {background!r}")
    if part != "train":
        raise ValueError(f"a run with background {background} trains on all of it and holds out no {part} "
                         f"characters: it is tested on Lake et al.'s runs")
    return omniglot.load(BACKGROUNDS[background]).images


def classes(config):
    """The classes of the training part: its characters, each four if the run turns them (for pretraining)."""
    return len(of(config, "train")) * (TURNS if config["rotate"] else 1)


def sample(rng, config, n_tasks, part, shots=None, queries=None):
    """n_tasks tasks of the run's family from `part`; shots and queries default to the run's. Omniglot tasks
    of the training part are turned by multiples of 90 degrees if the run says so (config["rotate"])."""
    shots = shots or config["shots"]
    if problem(config) == "sinusoid":  # a function of x: every part draws from the same family
        return sinusoid.sample_tasks(rng, n_tasks, shots, queries or shots)
    return omniglot.sample_tasks(rng, of(config, part), n_tasks, config["ways"], shots, queries or config["queries"],
                                 rotate=part == "train" and config["rotate"])


def null_loss(config, tasks):
    """The loss of a network that outputs 0 on the tasks' queries: the mean squared target, or log N for
    N-way classification (every label equally likely). A yardstick for a diverging meta-loss."""
    if problem(config) == "omniglot":
        return float(np.log(config["ways"]))
    return float(np.mean(tasks.y_query ** 2))
