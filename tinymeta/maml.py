"""Model-Agnostic Meta-Learning (Finn et al. 2017, arXiv 1703.03400).

Meta-objective, for tasks t with support set s_t and query set q_t:

    min_theta  mean_t  L_{q_t}( theta'_t ),   theta'_t = theta - inner_lr * grad L_{s_t}(theta)

(applied `inner_steps` times). Differentiating through the inner step gives the exact,
second-order meta-gradient; cutting the inner gradient out of the graph gives first-order
MAML. `loss(params, x, y)` is any model's loss per task: x (T, K, n_in) -> shape (T,),
where every parameter array may carry a leading task axis T. Imports only numpy/autograd.
"""
import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval


def adapt(params, x, y, loss, inner_lr, inner_steps, first_order=False):
    """Fast weights of every task after `inner_steps` SGD steps on loss(params, x, y).

    params: list of arrays (one network); x (T, K, n_in), y (T, K, n_out) (arrays, or lists of numbers).
    Returns a list like params with a leading task axis: arrays of shape (T,) + p.shape.
    """
    if not np.all(getval(inner_lr) > 0) or int(inner_steps) != inner_steps or inner_steps < 0:
        raise ValueError(f"inner_lr must be > 0 and inner_steps an integer >= 0, got {inner_lr!r} and {inner_steps!r}")
    fast = [np.repeat(p[None], len(x), axis=0) for p in params]  # one copy per task: (T,) + p.shape
    for _ in range(inner_steps):
        grads = task_grads(fast, x, y, loss)
        if first_order:
            grads = [getval(g) for g in grads]  # first-order MAML: the inner gradient is a constant
        fast = [w - inner_lr * g for w, g in zip(fast, grads)]
    return fast


def meta_loss(params, tasks, loss, inner_lr=0.01, inner_steps=1, first_order=False):
    """Mean query loss after adapting on the support set; a scalar.

    `tasks` has x_support, y_support (T, K, n_in / n_out) and x_query, y_query (T, Q, ...).
    autograd.grad of this w.r.t. params is the MAML meta-gradient.
    """
    fast = adapt(params, tasks.x_support, tasks.y_support, loss, inner_lr, inner_steps, first_order)
    return np.mean(loss(fast, tasks.x_query, tasks.y_query))


def task_grads(fast, x, y, loss):
    """Every task's own gradient: task t's loss depends only on slice t, so the gradient of
    the sum over tasks holds, in slice t, the gradient of task t alone (vmap by hand)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)

