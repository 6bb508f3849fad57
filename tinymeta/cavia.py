"""CAVIA, fast context adaptation (Zintgraf, Shiarlis, Kurin, Hofmann & Whiteson 2019, arXiv 1810.03642).

The network theta is shared by all tasks; what adapts is a context vector phi_t of n_context numbers,
appended to every input of task t and starting at 0:

    phi_t <- phi_t - inner_lr * grad_phi L_{s_t}(theta, phi_t),   from phi_t = 0, `inner_steps` times,

and theta is meta-trained on mean_t L_{q_t}(theta, phi_t) through the adapted contexts: second order,
or first order with the inner gradient cut out of the graph, as in maml.py. `loss(params, x, y)` is any
model's loss per task whose inputs are x with the context appended: x (T, K, n_in + n_context) -> (T,),
e.g. mlp.mse with mlp.init(rng, (n_in + n_context, 40, 40, n_out)). params is one network, with no task
axis. The authors' code (lmzintgraf/cavia) defaults to n_context = 5, inner_lr = 1.0 for sinusoids.
Imports only numpy/autograd.
"""
import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval


def with_context(x, contexts):
    """Every task's context appended to each of its inputs: x (T, K, n_in), contexts (T, n_context)
    -> (T, K, n_in + n_context). Predict with adapted contexts as loss(params, with_context(x, phi), y)."""
    repeated = np.repeat(contexts[:, None, :], np.shape(x)[1], axis=1)  # (T, K, n_context)
    return np.concatenate([x, repeated], axis=-1)


def adapt(params, x, y, loss, n_context, inner_lr, inner_steps, first_order=False):
    """Every task's context after `inner_steps` SGD steps on loss(params, with_context(x, phi), y).

    params: list of arrays (one network); x (T, K, n_in), y (T, K, n_out). Returns (T, n_context).
    """
    if not inner_lr > 0 or int(inner_steps) != inner_steps or inner_steps < 0:
        raise ValueError(f"inner_lr must be > 0 and inner_steps an integer >= 0, got {inner_lr!r} and {inner_steps!r}")
    context_loss = lambda phi, x, y: loss(params, with_context(x, phi), y)  # CAVIA: only phi adapts
    contexts = np.zeros((len(x), int(n_context)))  # every task starts from phi = 0
    for _ in range(inner_steps):
        grads = task_grads(contexts, x, y, context_loss)  # (T, n_context)
        if first_order:
            grads = getval(grads)  # first order: the inner gradient is a constant
        contexts = contexts - inner_lr * grads
    return contexts


def meta_loss(params, tasks, loss, n_context, inner_lr, inner_steps, first_order=False):
    """Mean query loss with the contexts adapted on the support set; a scalar.

    `tasks` has x_support, y_support (T, K, n_in / n_out) and x_query, y_query (T, Q, ...).
    autograd.grad of this w.r.t. params is the CAVIA meta-gradient.
    """
    contexts = adapt(params, tasks.x_support, tasks.y_support, loss, n_context, inner_lr, inner_steps,
                     first_order)
    return np.mean(loss(params, with_context(tasks.x_query, contexts), tasks.y_query))


def task_grads(fast, x, y, loss):
    """Every task's own gradient, from the gradient of the sum over tasks (as in maml.py)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)

