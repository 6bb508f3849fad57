"""The task families a run can meta-learn, as training, evaluation and plots see them: config["problem"] is
"sinusoid" (regression, the default: configurations written before there was a choice have no "problem") or
"omniglot" (N-way K-shot classification of handwritten characters).

    problem(config)                     -> "sinusoid" or "omniglot"
    loss(config)                        -> the model's loss per task: mlp.mse or mlp.cross_entropy
    sizes(config)                       -> the network's layer widths
    sample(rng, config, n_tasks, part)  -> a batch of tasks from the "train", "validation" or "test" part
"""
from functools import lru_cache

import numpy as np

from tinymeta import mlp, omniglot, sinusoid

PROBLEMS = ("sinusoid", "omniglot")
PARTS = ("train", "validation", "test")
TURNS = 4  # with rotate, each training character is four classes: turned by 0, 90, 180 and 270 degrees


def problem(config):
    return config.get("problem", "sinusoid")


def loss(config):
    """Squared error for regression, softmax cross-entropy for classification."""
    return mlp.cross_entropy if problem(config) == "omniglot" else mlp.mse


def sizes(config):
    """Inputs (x, or a 28 x 28 image as 784 pixels, plus CAVIA's context inputs), the hidden widths, outputs."""
    if problem(config) == "omniglot":
        return (omniglot.SIZE ** 2 + config.get("n_context", 0), *config["hidden"], config["ways"])
    return (1 + config.get("n_context", 0), *config["hidden"], 1)


@lru_cache(maxsize=None)
def characters(part):
    """The images of one part ("train", "validation", "test") of omniglot.split of the shipped characters
    (kept: every meta-batch draws from them)."""
    return dict(zip(PARTS, omniglot.split(omniglot.load().images)))[part]


def classes(config):
    """The classes of the training part: its characters, each four if the run turns them (for pretraining)."""
    return len(characters("train")) * (TURNS if config["rotate"] else 1)


def sample(rng, config, n_tasks, part, shots=None, queries=None):
    """n_tasks tasks of the run's family from `part`; shots and queries default to the run's. Omniglot tasks
    of the training part are turned by multiples of 90 degrees if the run says so (config["rotate"])."""
    shots = shots or config["shots"]
    if problem(config) == "sinusoid":  # a function of x: every part draws from the same family
        return sinusoid.sample_tasks(rng, n_tasks, shots, queries or shots)
    return omniglot.sample_tasks(rng, characters(part), n_tasks, config["ways"], shots, queries or config["queries"],
                                 rotate=part == "train" and config["rotate"])


def null_loss(config, tasks):
    """The loss of a network that outputs 0 on the tasks' queries: the mean squared target, or log N for
    N-way classification (every label equally likely). A yardstick for a diverging meta-loss."""
    if problem(config) == "omniglot":
        return float(np.log(config["ways"]))
    return float(np.mean(tasks.y_query ** 2))
