"""MAML Enhanced: Meta-Curvature (Park & Oliva 2019, arXiv 1902.03356) with layer-specific per-step
learning rates and the multi-step loss of MAML++ (Antoniou, Edwards & Storkey 2019, arXiv 1810.09502).

At inner step s, every parameter array's gradient is transformed by its curvature and scaled by its rate:

    theta_i <- theta_i - lr[s, i] * MC_i(grad_i L_{s_t}(theta)),   MC_i(G) = M_in G M_out  (m * g for biases)

Meta-parameters: {"params", "lr": (inner_steps, len(params)) as in lslr.py, "curvature": as in
metacurvature.py}. The meta-loss is the query loss after the last step or, with step weights w_s,
sum_s w_s * (query loss after step s+1). Past the trained steps `adapt` reuses the last row of rates.
Imports numpy/autograd and, for the curvature's transform and init, metacurvature.py (copy it along
and write `import metacurvature` to use this file outside tinymeta).
"""
import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval

from tinymeta import metacurvature  # the curvature's transform (M_in G M_out) and init


def init(params, inner_steps=1, inner_lr=0.01):
    """{"params": a copy, "lr": inner_lr everywhere (inner_steps, len(params)), "curvature": identities}."""
    if int(inner_steps) != inner_steps or inner_steps < 1:
        raise ValueError(f"inner_steps must be an integer >= 1, got {inner_steps!r}")
    return dict(metacurvature.init(params), lr=np.full((int(inner_steps), len(params)), float(inner_lr)))


def adapt(meta, x, y, loss, inner_steps, first_order=False):
    """Fast weights of every task after `inner_steps` steps; step s uses lr[min(s, len(lr) - 1)].

    x (T, K, n_in), y (T, K, n_out). Returns arrays of shape (T,) + p.shape, one per p in meta["params"].
    """
    if set(meta) != {"params", "lr", "curvature"} or int(inner_steps) != inner_steps or inner_steps < 0:
        raise ValueError(f"meta must have the keys 'params', 'lr' and 'curvature' and inner_steps be an integer >= 0, "
                         f"got {sorted(meta)} and {inner_steps!r}")
    fast = [np.repeat(p[None], len(x), axis=0) for p in meta["params"]]  # one copy per task: (T,) + p.shape
    for s in range(inner_steps):
        fast = step(meta, fast, x, y, loss, s, first_order)
    return fast


def step(meta, fast, x, y, loss, s, first_order=False):
    """Inner step s from the fast weights `fast` ((T,) + p.shape each): theta_i - lr[s, i] * MC_i(g_i)."""
    grads = task_grads(fast, x, y, loss)
    if first_order:
        grads = [getval(g) for g in grads]  # first order: the inner gradient is a constant
    rates = meta["lr"][min(s, len(meta["lr"]) - 1)]  # (len(params),); past the trained steps, the last row
    directions = metacurvature.transform(meta["curvature"], grads)  # M_in G M_out, m * g
    return [w - rates[i] * d for i, (w, d) in enumerate(zip(fast, directions))]


def meta_loss(meta, tasks, loss, step_weights=None, first_order=False):
    """Query loss after len(meta["lr"]) inner steps or, with step_weights (one per step), the multi-step
    loss sum_s step_weights[s] * (mean query loss after s+1 steps); a scalar, differentiable w.r.t. meta.
    """
    inner_steps = len(meta["lr"])
    if step_weights is None:
        fast = adapt(meta, tasks.x_support, tasks.y_support, loss, inner_steps, first_order)
        return np.mean(loss(fast, tasks.x_query, tasks.y_query))
    fast, total = adapt(meta, tasks.x_support, tasks.y_support, loss, 0), 0.0  # theta, (T,) + p.shape
    for s in range(inner_steps):
        fast = step(meta, fast, tasks.x_support, tasks.y_support, loss, s, first_order)
        total = total + step_weights[s] * np.mean(loss(fast, tasks.x_query, tasks.y_query))
    return total


def msl_weights(inner_steps, iteration, anneal_iterations):
    """MAML++ multi-step-loss weights at meta-training `iteration`, shape (inner_steps,), summing to 1.

    They start uniform, 1/S; the first S-1 decay linearly by iteration / (S * anneal_iterations) to a
    floor of 0.03/S (the value in the authors' code) while the last takes the rest. From iteration
    anneal_iterations on: one-hot on the last step, the plain final-step loss.
    """
    if int(inner_steps) != inner_steps or inner_steps < 1 or iteration < 0 or anneal_iterations < 0:
        raise ValueError(f"inner_steps must be an integer >= 1, iteration and anneal_iterations >= 0, "
                         f"got {inner_steps!r}, {iteration!r} and {anneal_iterations!r}")
    if iteration >= anneal_iterations:
        return np.eye(inner_steps)[-1]
    early = np.full(inner_steps - 1, max(1 / inner_steps - iteration / (inner_steps * anneal_iterations),
                                         0.03 / inner_steps))
    return np.append(early, 1 - np.sum(early))


def task_grads(fast, x, y, loss):
    """Every task's own gradient, from the gradient of the sum over tasks (as in maml.py)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)

