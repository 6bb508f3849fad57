"""Reptile (Nichol, Achiam & Schulman 2018, arXiv 1803.02999).

Adapt a copy of theta to each task by plain SGD, then move theta toward the adapted weights:

    theta <- theta - outer_lr * (theta - mean_t theta~_t)

`meta_gradient` returns the bracket, so it can be handed to SGD or, as in the paper, to Adam.
No second derivatives are needed, so nothing here is differentiated. `loss(params, x, y)` is
any model's loss per task (see maml.py). Imports only numpy/autograd.
"""
import autograd.numpy as np
from autograd import grad


def adapt(params, x, y, loss, inner_lr, inner_steps):
    """theta~_t for every task: `inner_steps` full-batch SGD steps on (x, y) from params.

    params: list of arrays; x (T, K, n_in), y (T, K, n_out). Returns arrays of shape (T,) + p.shape.
    """
    if not inner_lr > 0 or int(inner_steps) != inner_steps or inner_steps < 1:
        raise ValueError(f"inner_lr must be > 0 and inner_steps an integer >= 1, got {inner_lr!r} and {inner_steps!r}")
    fast = [np.repeat(p[None], len(x), axis=0) for p in params]  # one copy per task: (T,) + p.shape
    for _ in range(inner_steps):
        grads = task_grads(fast, x, y, loss)
        fast = [w - inner_lr * g for w, g in zip(fast, grads)]
    return fast


def meta_gradient(params, tasks, loss, inner_lr, inner_steps):
    """theta - mean_t theta~_t, a list shaped like params, adapting on each task's support set."""
    fast = adapt(params, tasks.x_support, tasks.y_support, loss, inner_lr, inner_steps)
    return [p - np.mean(w, axis=0) for p, w in zip(params, fast)]


def task_grads(fast, x, y, loss):
    """Every task's own gradient, from the gradient of the sum over tasks (as in maml.py)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)

