"""Meta-Curvature (Park & Oliva 2019, arXiv 1902.03356): MAML with a learned transform of the gradient.

For a weight W (n_in, n_out) with gradient G, two meta-learned matrices M_in (n_in, n_in) and
M_out (n_out, n_out) give the inner update

    W <- W - inner_lr * M_in G M_out,      i.e.  vec W <- vec W - inner_lr * (M_out^T kron M_in) vec G

(a Kronecker-factored curvature, vec stacking columns); every other array (a bias b) gets a learned
vector: b <- b - inner_lr * m * g. Meta-parameters: {"params": [theta_i], "curvature": [c_i]}, c_i a
pair (M_in, M_out) for a 2-D theta_i, else an array shaped like theta_i. Identity matrices and
vectors of ones, as `init` returns, make this exactly MAML. `loss(params, x, y)` is any model's loss
per task (see maml.py). Imports only numpy/autograd.
"""
import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval


def init(params):
    """{"params": a copy of params, "curvature": identity pairs for 2-D weights, ones elsewhere}."""
    return {"params": [np.array(p, dtype=float) for p in params],
            "curvature": [(np.eye(np.shape(p)[0]), np.eye(np.shape(p)[1])) if np.ndim(p) == 2
                          else np.ones(np.shape(p)) for p in params]}


def transform(curvature, grads):
    """MC(g) for every task's gradient: M_in G M_out for a weight, m * g otherwise.

    grads carry the task axis: G (T, n_in, n_out), shared M_in (n_in, n_in) and M_out (n_out, n_out).
    """
    return [c[0] @ g @ c[1] if np.ndim(g) == 3 else c * g for c, g in zip(curvature, grads)]


def adapt(meta, x, y, loss, inner_lr, inner_steps, first_order=False):
    """Fast weights of every task after `inner_steps` Meta-Curvature steps on loss(params, x, y).

    x (T, K, n_in), y (T, K, n_out). Returns a list like meta["params"] with a leading task axis:
    arrays of shape (T,) + p.shape.
    """
    if set(meta) != {"params", "curvature"}:
        raise ValueError(f"meta must have the keys 'params' and 'curvature', got {sorted(meta)}")
    if not np.all(getval(inner_lr) > 0) or int(inner_steps) != inner_steps or inner_steps < 0:
        raise ValueError(f"inner_lr must be > 0 and inner_steps an integer >= 0, got {inner_lr!r} and {inner_steps!r}")
    fast = [np.repeat(p[None], len(x), axis=0) for p in meta["params"]]  # one copy per task: (T,) + p.shape
    for _ in range(inner_steps):
        grads = task_grads(fast, x, y, loss)
        if first_order:
            grads = [getval(g) for g in grads]  # first order: the inner gradient is a constant
        fast = [w - inner_lr * d for w, d in zip(fast, transform(meta["curvature"], grads))]  # MC(g)
    return fast


def meta_loss(meta, tasks, loss, inner_lr=0.01, inner_steps=1, first_order=False):
    """Mean query loss after adapting on the support set; a scalar.

    `tasks` has x_support, y_support (T, K, ...) and x_query, y_query (T, Q, ...). autograd.grad of
    this w.r.t. meta is the meta-gradient, a dict like meta: for the weights and for the curvature.
    """
    fast = adapt(meta, tasks.x_support, tasks.y_support, loss, inner_lr, inner_steps, first_order)
    return np.mean(loss(fast, tasks.x_query, tasks.y_query))


def task_grads(fast, x, y, loss):
    """Every task's own gradient, from the gradient of the sum over tasks (as in maml.py)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)

