"""Learned layer-specific per-step learning rates, LSLR (Antoniou, Edwards & Storkey 2019, "How to
train your MAML", arXiv 1810.09502): MAML with one learned rate per parameter array per inner step.

    theta_i <- theta_i - lr[s, i] * grad_i L_{s_t}(theta)          at inner step s = 0, 1, ...

Meta-parameters: {"params": [theta_i], "lr": array (inner_steps, len(params))}; the rates are
meta-trained with theta (free parameters, as in MAML++). With every rate = inner_lr this is exactly
MAML. `adapt` may take more steps than lr has rows (e.g. evaluating 10 steps after training with 1):
beyond the trained steps it reuses the last row of rates. `loss(params, x, y)` is any model's loss
per task (see maml.py). Imports only numpy/autograd.
"""
import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval


def init(params, inner_steps=1, inner_lr=0.01):
    """{"params": a copy of params, "lr": inner_lr everywhere, shape (inner_steps, len(params))}."""
    if int(inner_steps) != inner_steps or inner_steps < 1:
        raise ValueError(f"inner_steps must be an integer >= 1, got {inner_steps!r}")
    return {"params": [np.array(p, dtype=float) for p in params],
            "lr": np.full((int(inner_steps), len(params)), float(inner_lr))}


def adapt(meta, x, y, loss, inner_steps, first_order=False):
    """Fast weights of every task after `inner_steps` steps on loss(params, x, y); step s uses the
    rates lr[s], or the last row lr[-1] once s is past the trained steps.

    x (T, K, n_in), y (T, K, n_out). Returns a list like meta["params"] with a leading task axis:
    arrays of shape (T,) + p.shape.
    """
    if set(meta) != {"params", "lr"} or int(inner_steps) != inner_steps or inner_steps < 0:
        raise ValueError(f"meta must have the keys 'params' and 'lr' and inner_steps be an integer >= 0, "
                         f"got {sorted(meta)} and {inner_steps!r}")
    lr = meta["lr"]
    fast = [np.repeat(p[None], len(x), axis=0) for p in meta["params"]]  # one copy per task: (T,) + p.shape
    for s in range(inner_steps):
        grads = task_grads(fast, x, y, loss)
        if first_order:
            grads = [getval(g) for g in grads]  # first order: the inner gradient is a constant
        rates = lr[min(s, len(lr) - 1)]  # (len(params),); past the trained steps, the last row
        fast = [w - rates[i] * g for i, (w, g) in enumerate(zip(fast, grads))]  # LSLR: one rate per array
    return fast


def meta_loss(meta, tasks, loss, first_order=False):
    """Mean query loss after len(meta["lr"]) inner steps on the support set; a scalar.

    `tasks` has x_support, y_support (T, K, ...) and x_query, y_query (T, Q, ...). autograd.grad of
    this w.r.t. meta is the meta-gradient, a dict like meta: for the weights and for the rates.
    """
    fast = adapt(meta, tasks.x_support, tasks.y_support, loss, len(meta["lr"]), first_order)
    return np.mean(loss(fast, tasks.x_query, tasks.y_query))


def task_grads(fast, x, y, loss):
    """Every task's own gradient, from the gradient of the sum over tasks (as in maml.py)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)

