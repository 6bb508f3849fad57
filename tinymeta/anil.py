"""ANIL, Almost No Inner Loop (Raghu, Raghu, Bengio & Vinyals 2020, "Rapid learning or feature
reuse?", arXiv 1909.09157): MAML whose inner loop adapts only the head, the last layer.

With params = body + head, head = the last two arrays (W, b of the last layer):

    head'_t = head - inner_lr * grad_head L_{s_t}(body, head),    body'_t = body

and the meta-gradient, exact or first order, flows into body and head as in MAML. The meta-parameters
are the network's parameters themselves (`init` copies them). `loss(params, x, y)` is any model's loss
per task (see maml.py). Imports only numpy/autograd.
"""
import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval


def init(params):
    """The meta-parameters: a copy of params (a list, as for maml.py)."""
    return [np.array(p, dtype=float) for p in params]


def adapt(params, x, y, loss, inner_lr, inner_steps, first_order=False):
    """Fast weights of every task after `inner_steps` SGD steps on the head only.

    params: list of arrays (one network, at least the two of the head); x (T, K, n_in), y (T, K, n_out).
    Returns a list like params with a leading task axis, (T,) + p.shape; the body is repeated unchanged.
    """
    if not np.all(getval(inner_lr) > 0) or int(inner_steps) != inner_steps or inner_steps < 0:
        raise ValueError(f"inner_lr must be > 0 and inner_steps an integer >= 0, got {inner_lr!r} and {inner_steps!r}")
    fast = [np.repeat(p[None], len(x), axis=0) for p in params]  # one copy per task: (T,) + p.shape
    body, head = fast[:-2], fast[-2:]
    head_loss = lambda h, x, y: loss(body + list(h), x, y)  # ANIL: only the head is adapted
    # (list(h) keeps it a plain list: autograd's `list + boxed list` mishandles the nested gradients)
    for _ in range(inner_steps):
        grads = task_grads(head, x, y, head_loss)
        if first_order:
            grads = [getval(g) for g in grads]  # first-order: the inner gradient is a constant
        head = [w - inner_lr * g for w, g in zip(head, grads)]
    return body + head


def meta_loss(params, tasks, loss, inner_lr=0.01, inner_steps=1, first_order=False):
    """Mean query loss after adapting the head on the support set; a scalar.

    `tasks` has x_support, y_support (T, K, ...) and x_query, y_query (T, Q, ...). autograd.grad of this
    w.r.t. params is the ANIL meta-gradient, for body and head.
    """
    fast = adapt(params, tasks.x_support, tasks.y_support, loss, inner_lr, inner_steps, first_order)
    return np.mean(loss(fast, tasks.x_query, tasks.y_query))


def task_grads(fast, x, y, loss):
    """Every task's own gradient, from the gradient of the sum over tasks (as in maml.py)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)

