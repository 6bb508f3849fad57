"""Few-shot sinusoid regression (Finn et al. 2017, arXiv 1703.03400, section 5.1).

A task is y = A sin(x - phi) with amplitude A ~ U[0.1, 5.0] and phase phi ~ U[0, pi];
inputs x ~ U[-5, 5]. Each task comes with K support points to adapt on and, drawn
independently, query points to measure the adapted model on.
"""
from collections import namedtuple

import numpy as np

AMPLITUDE = (0.1, 5.0)
PHASE = (0.0, np.pi)
X_RANGE = (-5.0, 5.0)

Tasks = namedtuple("Tasks", "x_support y_support x_query y_query amplitude phase")
Tasks.__doc__ = """A batch of T tasks: x_*, y_* of shape (T, K, 1); amplitude, phase of shape (T,)."""


def sample_tasks(rng, n_tasks, k_support, k_query):
    """Draw `n_tasks` sinusoid tasks with `k_support` support and `k_query` query points.

    `rng` is a numpy.random.Generator; the same generator state gives the same bits.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(0), got {rng!r}")
    for name, value in (("n_tasks", n_tasks), ("k_support", k_support), ("k_query", k_query)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    amplitude = rng.uniform(*AMPLITUDE, size=n_tasks)
    phase = rng.uniform(*PHASE, size=n_tasks)
    x_support = rng.uniform(*X_RANGE, size=(n_tasks, k_support, 1))
    x_query = rng.uniform(*X_RANGE, size=(n_tasks, k_query, 1))
    return Tasks(x_support, sine(amplitude, phase, x_support),
                 x_query, sine(amplitude, phase, x_query), amplitude, phase)


def sine(amplitude, phase, x):
    """y = A sin(x - phi) for every task: amplitude, phase (T,), x (T, K, 1) -> (T, K, 1)."""
    return amplitude[:, None, None] * np.sin(x - phase[:, None, None])
