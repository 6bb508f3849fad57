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
    return {"params": [np.array(p, dtype=float) for p in params],
            "lr": [np.full(np.shape(p), float(inner_lr)) for p in params]}


def adapt(meta, x, y, loss, inner_steps, first_order=False):
    """Fast weights of every task after `inner_steps` Meta-SGD steps on loss(params, x, y).

    x (T, K, n_in), y (T, K, n_out). Returns a list like meta["params"] with a leading task axis:
    arrays of shape (T,) + p.shape.
    """
    if set(meta) != {"params", "lr"} or int(inner_steps) != inner_steps or inner_steps < 0:
        raise ValueError(f"meta must have the keys 'params' and 'lr' and inner_steps be an integer >= 0, "
                         f"got {sorted(meta)} and {inner_steps!r}")
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
    fast = adapt(meta, tasks.x_support, tasks.y_support, loss, inner_steps, first_order)
    return np.mean(loss(fast, tasks.x_query, tasks.y_query))


def task_grads(fast, x, y, loss):
    """Every task's own gradient, from the gradient of the sum over tasks (as in maml.py)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)

