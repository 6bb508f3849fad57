"""Meta-SGD (Li, Zhou, Chen & Li 2017, arXiv 1707.09835): MAML with a learned rate per weight.

The inner update scales the gradient elementwise by a meta-learned array lr_i shaped like theta_i:

    theta'_i = theta_i - lr_i * grad_i L_{s_t}(theta)          (* is elementwise)

and the rates are meta-trained with theta. As in the paper they are free parameters: training may
make some of them negative. Meta-parameters: {"params": [theta_i], "lr": [lr_i]}, lr_i.shape ==
theta_i.shape. With every lr_i = inner_lr this is exactly MAML. `loss(params, x, y)` is any model's
loss per task (see maml.py). Imports only numpy/autograd.
"""
import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval


def init(params, inner_lr=0.01):
    """{"params": a copy of params, "lr": arrays shaped like params, all equal to inner_lr}."""
    if not inner_lr > 0:
        raise ValueError(f"inner_lr must be > 0, got {inner_lr!r}")
    return {"params": [np.array(p, dtype=float) for p in params],
            "lr": [np.full(np.shape(p), float(inner_lr)) for p in params]}


def adapt(meta, x, y, loss, inner_steps, first_order=False):
    """Fast weights of every task after `inner_steps` Meta-SGD steps on loss(params, x, y).

    x (T, K, n_in), y (T, K, n_out). Returns a list like meta["params"] with a leading task axis:
    arrays of shape (T,) + p.shape.
    """
    check(meta, x, y, inner_steps)
    fast = [np.repeat(p[None], len(x), axis=0) for p in meta["params"]]  # one copy per task: (T,) + p.shape
    for _ in range(inner_steps):
        grads = task_grads(fast, x, y, loss)
        if first_order:
            grads = [getval(g) for g in grads]  # first order: the inner gradient is a constant
        fast = [w - lr * g for w, lr, g in zip(fast, meta["lr"], grads)]  # Meta-SGD: lr shaped like w
    return fast


def meta_loss(meta, tasks, loss, inner_steps=1, first_order=False):
    """Mean query loss after adapting on the support set; a scalar.

    `tasks` has x_support, y_support (T, K, ...) and x_query, y_query (T, Q, ...). autograd.grad of
    this w.r.t. meta is the meta-gradient, a dict like meta: for the weights and for the rates.
    """
    check(meta, tasks.x_query, tasks.y_query, inner_steps)
    fast = adapt(meta, tasks.x_support, tasks.y_support, loss, inner_steps, first_order)
    return np.mean(loss(fast, tasks.x_query, tasks.y_query))


def task_grads(fast, x, y, loss):
    """Every task's own gradient, from the gradient of the sum over tasks (as in maml.py)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)


def check(meta, x, y, inner_steps):
    """Raise a ValueError naming the bad value."""
    if np.ndim(x) < 3 or np.shape(x)[:-1] != np.shape(y)[:-1]:
        raise ValueError(f"x and y must have shapes (T, K, n_in) and (T, K, n_out), "
                         f"got {np.shape(x)} and {np.shape(y)}")
    if int(inner_steps) != inner_steps or inner_steps < 0:
        raise ValueError(f"inner_steps must be an integer >= 0, got {inner_steps!r}")
    meta = getval(meta)
    if not isinstance(meta, dict) or set(meta) != {"params", "lr"}:
        got = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"meta must be a dict with keys 'params' and 'lr', got {got}")
    params, lr = meta["params"], meta["lr"]
    if len(lr) != len(params):
        raise ValueError(f"meta['lr'] must hold {len(params)} arrays, one per parameter array, got {len(lr)}")
    for i, (p, a) in enumerate(zip(params, lr)):
        if np.shape(a) != np.shape(p):
            raise ValueError(f"meta['lr'][{i}] must have the shape of params[{i}], {np.shape(p)}, "
                             f"got {np.shape(a)}")
