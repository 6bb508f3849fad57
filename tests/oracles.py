"""Slow, obvious versions of the inner loops (a Python loop over tasks, one task's gradient at a time),
and random non-identity values of the learned meta-parameters, for the tests of the MAML variants."""
import numpy as np
from autograd import grad

from tinymeta import mlp


def trajectory(params, x, y, update, steps):
    """Fast weights after 0, 1, ..., steps inner steps, each a list of (T,) + p.shape arrays.

    Per task: w <- update(w, g, s) at step s, g = grad of mlp.mse on that task's (x, y) alone.
    """
    per_task = []
    for xt, yt in zip(x, y):
        ws = [params]
        for s in range(steps):
            ws.append(update(ws[-1], grad(mlp.mse)(ws[-1], xt, yt), s))
        per_task.append(ws)
    return [[np.stack([ws[s][i] for ws in per_task]) for i in range(len(params))] for s in range(steps + 1)]


def query_loss(fast, tasks):
    """Mean over tasks of each task's query loss at its own fast weights, one task at a time."""
    return np.mean([mlp.mse([w[t] for w in fast], tasks.x_query[t], tasks.y_query[t])
                    for t in range(len(tasks.x_query))])


def query_gradient(fast, tasks):
    """Gradient of the mean query loss w.r.t. every task's fast weights, summed over tasks: the
    first-order meta-gradient w.r.t. theta when d fast / d theta is taken as the identity."""
    per_task = [grad(mlp.mse)([w[t] for w in fast], tasks.x_query[t], tasks.y_query[t])
                for t in range(len(tasks.x_query))]
    return [np.sum(gs, axis=0) / len(per_task) for gs in zip(*per_task)]


def kron_transform(pair, g):
    """(M_out^T kron M_in) vec G for one task's gradient G (n_in, n_out), vec stacking columns."""
    m_in, m_out = pair
    return (np.kron(m_out.T, m_in) @ g.flatten(order="F")).reshape(g.shape, order="F")


def rates(rng, shape):
    """Learned rates away from any constant: U[0.001, 0.1]."""
    return rng.uniform(0.001, 0.1, shape)


def curvature(rng, params):
    """Meta-Curvature values away from the identity: I + 0.1 noise pairs for weights, 1 + 0.1 noise else."""
    def near_identity(n):
        return np.eye(n) + 0.1 * rng.standard_normal((n, n))
    return [(near_identity(p.shape[0]), near_identity(p.shape[1])) if p.ndim == 2
            else 1 + 0.1 * rng.standard_normal(p.shape) for p in params]


def assert_close(a, b, tol=1e-12):
    """Lists of arrays equal up to tol relative to their size."""
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert np.shape(u) == np.shape(v), (np.shape(u), np.shape(v))
        assert np.max(np.abs(u - v), initial=0) <= tol * (1 + np.max(np.abs(v), initial=0))
