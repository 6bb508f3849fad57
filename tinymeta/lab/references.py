"""The obvious version of each algorithm: one task at a time, a Python loop over tasks and steps, one task's
gradient at a time, dense matrices where the library uses Hessian-vector products and conjugate gradient.

Slow, and easy to check by eye against the papers' equations; `python -m tinymeta check` compares a module
(tinymeta's own, or a student's copy) with these on random cases, and the tests use them as oracles. Fast
weights are lists of arrays with a leading task axis, (T,) + p.shape, as the library returns them.
"""
import autograd.numpy as np
from autograd import grad

from tinymeta import gradcheck, mlp


# Every algorithm: the inner loop of each task alone, and the losses and first-order gradient after it

def trajectory(params, x, y, update, steps):
    """Fast weights after 0, 1, ..., steps inner steps, each a list of (T,) + p.shape arrays: for each
    task alone, w <- update(w, g, s) at step s, with g the gradient of mlp.mse on that task."""
    per_task = []
    for xt, yt in zip(x, y):
        ws = [list(params)]
        for s in range(steps):
            ws.append(update(ws[-1], grad(mlp.mse)(ws[-1], xt, yt), s))
        per_task.append(ws)
    return stacked(per_task)


def stacked(per_task):
    """Each task's list of fast weights after 0, 1, ..., steps steps -> one list of (T,) + p.shape arrays per step."""
    return [[np.stack(arrays) for arrays in zip(*at_step)] for at_step in zip(*per_task)]


def query_loss(fast, tasks):
    """Mean over tasks of each task's query loss at its own fast weights."""
    return np.mean([mlp.mse([w[t] for w in fast], tasks.x_query[t], tasks.y_query[t])
                    for t in range(len(tasks.x_query))])


def query_gradient(fast, tasks):
    """Mean over tasks of the query gradient at each task's fast weights: the first-order meta-gradient."""
    per_task = [grad(mlp.mse)([w[t] for w in fast], tasks.x_query[t], tasks.y_query[t])
                for t in range(len(tasks.x_query))]
    return [sum(gs) / len(per_task) for gs in zip(*per_task)]


# MAML (Finn et al. 2017) and first-order MAML: plain gradient steps

def sgd(inner_lr):
    """MAML's inner step of one task: w - inner_lr g."""
    return lambda w, g, s: [p - inner_lr * gi for p, gi in zip(w, g)]


def maml_loss(params, tasks, inner_lr, steps):
    """MAML's meta-loss task by task; autograd differentiates through the loop for the exact meta-gradient."""
    total = 0.0
    for xs, ys, xq, yq in zip(tasks.x_support, tasks.y_support, tasks.x_query, tasks.y_query):
        w = params
        for _ in range(steps):
            w = [p - inner_lr * g for p, g in zip(w, grad(mlp.mse)(w, xs, ys))]
        total = total + mlp.mse(w, xq, yq)
    return total / len(tasks.x_support)


# Reptile (Nichol et al. 2018): theta minus the mean of the adapted weights

def reptile_direction(params, tasks, inner_lr, steps):
    """Reptile's meta-gradient: theta - the mean over tasks of the weights after `steps` SGD steps on the support set."""
    fast = trajectory(params, tasks.x_support, tasks.y_support, sgd(inner_lr), steps)[-1]
    return [p - np.mean(w, axis=0) for p, w in zip(params, fast)]


# Meta-SGD (Li et al. 2017), LSLR and MAML++ (Antoniou et al. 2019), Meta-Curvature (Park & Oliva 2019), ANIL
# (Raghu et al. 2020): the inner step of one task, w <- update(w, g, s) at step s

def kron(pair, g):
    """Meta-Curvature's M_in G M_out for one task's G (n_in, n_out), as (M_out^T kron M_in) vec G."""
    m_in, m_out = pair
    return np.reshape(np.kron(m_out.T, m_in) @ np.ravel(g, order="F"), g.shape, order="F")


def per_weight(lr):
    """Meta-SGD's inner step: w - lr * g, every weight its own rate (lr a list of arrays shaped like the weights)."""
    return lambda w, g, s: [p - a * gi for p, a, gi in zip(w, lr, g)]


def per_array_and_step(lr, curvature=None):
    """LSLR's inner step: array i moves by lr[s, i] g_i at step s (the last row of lr past the trained steps);
    with a curvature, Enhanced's, each g_i transformed as Meta-Curvature transforms it."""
    def transform(i, g):
        return g if curvature is None else kron(curvature[i], g) if g.ndim == 2 else curvature[i] * g
    return lambda w, g, s: [p - lr[min(s, len(lr) - 1)][i] * transform(i, gi) for i, (p, gi) in enumerate(zip(w, g))]


def curved(curvature, inner_lr):
    """Meta-Curvature's inner step: w - inner_lr M(g), M_in G M_out for a weight matrix G, m * g for a bias."""
    return per_array_and_step(np.full((1, len(curvature)), inner_lr), curvature)


def head_only(inner_lr):
    """ANIL's inner step: only the last two arrays, the head, move."""
    return lambda w, g, s: w[:-2] + [p - inner_lr * gi for p, gi in zip(w[-2:], g[-2:])]


# iMAML (Rajeswaran et al. 2019): steps on the regularised objective, a step that would raise it refused and its
# rate halved; the implicit meta-gradient with a dense Hessian

def regularised(w, theta, x, y, reg):
    """iMAML's objective for one task: L_s(w) + reg/2 |w - theta|^2."""
    return mlp.mse(w, x, y) + reg / 2 * sum(np.sum((p - t) ** 2) for p, t in zip(w, theta))


def pulled(theta, inner_lr, reg):
    """iMAML's gradient step on one task's L_s(w) + reg/2 |w - theta|^2."""
    return lambda w, g, s: [p - inner_lr * (gi + reg * (p - t)) for p, gi, t in zip(w, g, theta)]


def newton_step(theta, inner_lr, reg, x, y):
    """iMAML's Newton step (newton_cg > 0) on one task: w - rate solve(reg I + H_s(w), grad F), H_s dense."""
    def update(w, g, s):
        grad_F, unflatten = gradcheck.flatten([gi + reg * (p - t) for p, gi, t in zip(w, g, theta)])
        hessian_F = reg * np.eye(grad_F.size) + loss_hessian(w, x, y)  # dense, at the task's current w
        return [p - inner_lr * d for p, d in zip(w, unflatten(np.linalg.solve(hessian_F, grad_F)))]
    return update


def halving(theta, x, y, inner_lr, reg, steps, newton=False):
    """iMAML's inner loop, `trajectory`'s output: for each task alone, `pulled` steps from theta (with newton,
    `newton_step`s) at a rate that starts at inner_lr; a step that would raise the task's objective beyond
    rounding (or make it nan) is not taken, and halves the rate."""
    per_task = []
    for xt, yt in zip(x, y):
        ws, rate = [list(theta)], inner_lr
        for s in range(steps):
            w = ws[-1]
            step = newton_step(theta, rate, reg, xt, yt) if newton else pulled(theta, rate, reg)
            trial = step(w, grad(mlp.mse)(w, xt, yt), s)
            value = regularised(w, theta, xt, yt, reg)
            if regularised(trial, theta, xt, yt, reg) <= value + 1e-12 * abs(value):
                ws.append(trial)
            else:
                ws.append(w)
                rate = rate / 2
        per_task.append(ws)
    return stacked(per_task)


def loss_hessian(params, x, y):
    """The Hessian of mlp.mse on one task at params, (n, n) over its n weights flattened. Column i is H e_i,
    the gradient of <grad L, e_i>: all n columns at once, from n copies of the network (mlp.mse takes a
    leading axis of networks, as it takes the task axis), copy i dotted with e_i. autograd's `hessian`
    builds the same matrix one product at a time, about ten times slower."""
    flat, unflatten = gradcheck.flatten(params)
    n = flat.size
    copies = [np.repeat(p[None], n, axis=0) for p in params]  # (n,) + p.shape
    basis = [np.stack(arrays) for arrays in zip(*[unflatten(e) for e in np.eye(n)])]  # copy i's e_i
    xs, ys = np.repeat(x[None], n, axis=0), np.repeat(y[None], n, axis=0)
    gradients = grad(lambda ws: np.sum(mlp.mse(ws, xs, ys)))  # copy i's own gradient, in its slice
    columns = grad(lambda ws: sum(np.sum(g * e) for g, e in zip(gradients(ws), basis)))(copies)
    return np.stack([gradcheck.flatten([c[i] for c in columns])[0] for i in range(n)], axis=1)


def implicit_gradient(params, tasks, inner_lr, steps, reg, newton=False):
    """iMAML's meta-gradient task by task with dense matrices: the mean over tasks of
    solve(I + H / reg, grad L_q(phi_t)), phi_t from the per-task loop `halving` (newton as there) and H its
    support-loss Hessian at phi_t."""
    phi = halving(params, tasks.x_support, tasks.y_support, inner_lr, reg, steps, newton)[-1]
    per_task = []
    for t in range(len(tasks.x_support)):
        w = [p[t] for p in phi]
        H = loss_hessian(w, tasks.x_support[t], tasks.y_support[t])
        g = gradcheck.flatten(grad(mlp.mse)(w, tasks.x_query[t], tasks.y_query[t]))[0]
        per_task.append(np.linalg.solve(np.eye(len(g)) + H / reg, g))
    return gradcheck.flatten(params)[1](np.mean(per_task, axis=0))


def conjugate_gradient(A, b, steps):
    """Textbook conjugate gradient for one system A u = b of flat vectors, from u = 0, `steps` steps
    (fewer once the residual r is exactly 0: then u solves it)."""
    u, r = np.zeros_like(b), b
    p = r
    for _ in range(steps):
        if r @ r == 0:
            break
        alpha = (r @ r) / (p @ A @ p)
        u, r_next = u + alpha * p, r - alpha * (A @ p)
        p, r = r_next + (r_next @ r_next) / (r @ r) * p, r_next
    return u


# CAVIA (Zintgraf et al. 2019): gradient steps on a context appended to the inputs, from 0

def appended(x, context):
    """One task's inputs x (K, n_in) with its context (n_context,) appended to each: (K, n_in + n_context)."""
    return np.concatenate([x, np.tile(context, (len(x), 1))], axis=1)


def contexts_by_loop(params, x, y, n_context, inner_lr, steps):
    """CAVIA's inner loop task by task: gradient steps on the task's context alone, from 0; (T, n_context)."""
    contexts = []
    for xt, yt in zip(x, y):
        c = np.zeros(n_context)
        for _ in range(steps):
            c = c - inner_lr * grad(lambda c: mlp.mse(params, appended(xt, c), yt))(c)
        contexts.append(c)
    return np.stack(contexts)


def context_query_loss(params, tasks, contexts):
    """Mean over tasks of the query loss with each task's own context appended to its inputs."""
    return sum(mlp.mse(params, appended(x, c), y)
               for x, y, c in zip(tasks.x_query, tasks.y_query, contexts)) / len(contexts)
