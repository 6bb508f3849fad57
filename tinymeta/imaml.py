"""iMAML, implicit MAML (Rajeswaran, Finn, Kakade & Levine 2019, arXiv 1909.04630).

Each task's fast weights minimise its support loss with a pull back toward theta,

    phi_t = argmin_phi  L_{s_t}(phi) + (reg / 2) ||phi - theta||^2        (reg is the paper's lambda)

found approximately by `inner_steps` steps from theta: gradient steps, or with newton_cg > 0 Newton steps
(the paper's Hessian-free solver), each task's rate starting at inner_lr and halved whenever its step would
raise its objective. The implicit function theorem then gives the meta-gradient without differentiating
through those steps, however phi_t was found:

    d L_{q_t}(phi_t) / d theta = (I + H_{s_t}(phi_t) / reg)^{-1} grad L_{q_t}(phi_t),

H_{s_t} the Hessian of the support loss, the inverse applied by `cg_steps` iterations of conjugate
gradient, which needs only Hessian-vector products (and I + H/reg positive definite: reg above minus H's
most negative eigenvalue). Memory does not grow with inner_steps. Every array carries a leading task
axis T: fast weights and CG's vectors are (T,) + p.shape, CG's scalars (T,). `loss(params, x, y)` is
any model's loss per task (see maml.py). Imports only numpy/autograd.
"""
import autograd.numpy as np
from autograd import grad


def adapt(params, x, y, loss, inner_lr, inner_steps, reg, newton_cg=0):
    """phi_t for every task: `inner_steps` steps on F_t(phi) = L_s(phi) + (reg/2)||phi - params||^2.

    params: list of arrays (one network); x (T, K, n_in), y (T, K, n_out). newton_cg = 0: gradient steps,
    phi - rate grad F_t; newton_cg = n > 0: Newton steps, phi - rate (reg I + H_s)^{-1} grad F_t, the inverse
    applied by n CG steps (one Newton step at rate 1 solves a quadratic F_t). Each task's rate starts at
    inner_lr; a step that would raise its F_t (beyond rounding) is not taken and halves its rate, so however
    sharp theta grows no inner loop blows up (plain gradient steps are stable only for rates below
    2 / (reg + the largest eigenvalue of H_s)), though halved rates may then stop short of the minimiser
    (tutorial 09). While every step lowers F_t these are plain steps.
    Returns a list like params with a leading task axis: arrays of shape (T,) + p.shape.
    """
    if not inner_lr > 0 or not reg > 0:
        raise ValueError(f"inner_lr and reg must be > 0, got {inner_lr!r} and {reg!r}")
    if any(int(n) != n or n < 0 for n in (inner_steps, newton_cg)):
        raise ValueError(f"inner_steps and newton_cg must be integers >= 0, got {inner_steps!r} and {newton_cg!r}")
    fast = [np.repeat(p[None], len(x), axis=0) for p in params]  # one copy per task: (T,) + p.shape
    rate, value = np.full(len(x), float(inner_lr)), objective(fast, params, x, y, loss, reg)  # (T,), (T,)
    for _ in range(inner_steps):
        step = [g + reg * (w - p) for w, g, p in zip(fast, task_grads(fast, x, y, loss), params)]  # grad F_t
        if newton_cg:  # the Newton step (reg I + H_s)^{-1} grad F_t = (I + H_s/reg)^{-1} grad F_t / reg
            step = cg(implicit_matrix(fast, x, y, loss, reg), [s / reg for s in step], newton_cg)
        trial = [w - per_task(rate, w) * s for w, s in zip(fast, step)]
        trial_value = objective(trial, params, x, y, loss, reg)
        lower = trial_value <= value + 1e-12 * np.abs(value)  # (T,), rounding allowed; False for nan
        fast = [np.where(per_task(lower, w), t, w) for w, t in zip(fast, trial)]
        value, rate = np.where(lower, trial_value, value), np.where(lower, rate, rate / 2)
    return fast


def objective(fast, params, x, y, loss, reg):
    """F_t(fast_t) = L_{s_t}(fast_t) + (reg/2)||fast_t - params||^2 for every task: shape (T,)."""
    return loss(fast, x, y) + reg / 2 * sum(task_dots([w - p], [w - p]) for w, p in zip(fast, params))


def query_loss_and_meta_gradient(params, tasks, loss, inner_lr, inner_steps, reg, cg_steps, newton_cg=0):
    """(mean query loss at the phi_t, the iMAML meta-gradient: a list shaped like params).

    `tasks` has x_support, y_support (T, K, ...) and x_query, y_query (T, Q, ...). The meta-gradient is
    the mean over tasks of (I + H_{s_t}(phi_t) / reg)^{-1} grad L_{q_t}(phi_t); newton_cg as in adapt.
    """
    if int(cg_steps) != cg_steps or cg_steps < 1:
        raise ValueError(f"cg_steps must be an integer >= 1, got {cg_steps!r}")
    fast = adapt(params, tasks.x_support, tasks.y_support, loss, inner_lr, inner_steps, reg, newton_cg)
    query_grads = task_grads(fast, tasks.x_query, tasks.y_query, loss)  # (T,) + p.shape
    solution = cg(implicit_matrix(fast, tasks.x_support, tasks.y_support, loss, reg), query_grads, cg_steps)
    query_loss = np.mean(loss(fast, tasks.x_query, tasks.y_query))
    return query_loss, [np.mean(s, axis=0) for s in solution]


def meta_gradient(params, tasks, loss, inner_lr, inner_steps, reg, cg_steps, newton_cg=0):
    """The iMAML meta-gradient, a list shaped like params, to hand to SGD or Adam."""
    return query_loss_and_meta_gradient(params, tasks, loss, inner_lr, inner_steps, reg, cg_steps, newton_cg)[1]


def implicit_matrix(fast, x, y, loss, reg):
    """v -> (I + H_{s_t}(fast_t) / reg) v_t for every task: the matrix that CG inverts, as a function."""
    return lambda v: [u + h / reg for u, h in zip(v, task_hvps(fast, v, x, y, loss))]


def cg(matvec, b, steps):
    """Conjugate gradient for A u = b, every task at once, from u = 0; returns u, a list like b.

    b: list of arrays (T,) + shape; matvec(v) applies every task's own symmetric positive definite A_t
    to its slice of v. Each step makes the residual b - A u orthogonal to one more search direction, so
    after at most n steps (n numbers per task) the residual is zero up to rounding. alpha, beta: (T,).
    """
    u = [np.zeros_like(r) for r in b]
    r = [np.array(a, dtype=float) for a in b]  # residual b - A u
    p = r  # search direction
    rr = task_dots(r, r)  # (T,)
    for _ in range(steps):
        Ap = matvec(p)
        pAp = task_dots(p, Ap)  # (T,)
        done = (rr == 0) | (pAp == 0)  # solved (or b = 0), or so nearly that p's curvature underflows: stay put
        alpha = np.where(done, 0.0, rr / np.where(done, 1.0, pAp))  # (T,)
        u = [ui + per_task(alpha, pi) * pi for ui, pi in zip(u, p)]
        r = [ri - per_task(alpha, pi) * api for ri, pi, api in zip(r, p, Ap)]
        rr_new = task_dots(r, r)
        beta = np.where(done, 0.0, rr_new / np.where(done, 1.0, rr))  # (T,)
        p = [ri + per_task(beta, pi) * pi for ri, pi in zip(r, p)]
        rr = rr_new
    return u


def task_hvps(fast, v, x, y, loss):
    """Every task's own Hessian-vector product H_t(fast_t) v_t, a list like fast: the gradient of
    sum_t <grad L_t(fast_t), v_t>, in which slice t depends only on task t (task_grads, one order up)."""
    return grad(lambda w: sum(np.sum(g * u) for g, u in zip(task_grads(w, x, y, loss), v)))(fast)


def task_dots(a, b):
    """<a_t, b_t> for every task t over all arrays of the lists a and b: shape (T,)."""
    return sum(np.sum(u * w, axis=tuple(range(1, np.ndim(u)))) for u, w in zip(a, b))


def per_task(scalars, like):
    """One number per task, (T,) -> (T, 1, ..., 1), to broadcast against an array (T,) + shape."""
    return np.reshape(scalars, (-1,) + (1,) * (np.ndim(like) - 1))


def task_grads(fast, x, y, loss):
    """Every task's own gradient, from the gradient of the sum over tasks (as in maml.py)."""
    return grad(lambda w: np.sum(loss(w, x, y)))(fast)

