"""`python -m tinymeta check ALGO FILE.py`: tinymeta's property battery, run on your own version of ALGO.

FILE implements the functions of tinymeta/ALGO.py with the same signatures (a changed copy, say). It is
loaded under a private module name, so tinymeta's own ALGO.py is never imported in its place. Every
property is checked on the same random cases (a small ReLU MLP with mlp.mse as the loss, regression
tasks, a step count and a rate), each rebuilt by `draw(seed)`, or by `ALGORITHMS[ALGO].prepare(draw(seed))`
for an algorithm with settings of its own (iMAML's reg, inner rates and steps, CAVIA's contexts); an algorithm's
learned meta-parameters for a case are `ALGORITHMS[ALGO].meta(case)`. The expected values come from slow,
obvious references written here (a Python loop over tasks, one task's gradient at a time). One line per
property: ✓ or ✗, the worst error, and for a failure the smallest failing case; or -, skipped, for a property
that needs what FILE lacks (iMAML's Newton properties, for a copy whose adapt has no newton_cg). Exit status 0 if
every property checked holds, 1 if one does not, 2 if FILE cannot be checked (missing, raises on import, lacks a
function). The properties that bad arguments raise a ValueError (BAD_INPUTS) run only with --bad-input: by
default an exercise is graded on its algorithm, not on its error messages.

A new algorithm is one entry in ALGORITHMS: how to call its functions, its inner step for one task (or
its whole inner loop, if a step needs more than the weights and their gradient), its own settings for a
case, and which properties apply.
"""
import argparse
import functools
import importlib.util
import inspect
import math
import os
import sys
import traceback
import warnings
from collections import namedtuple

import autograd.numpy as np
from autograd import grad

from tinymeta import gradcheck, mlp
from tinymeta.lab.flags import Parser
from tinymeta.sinusoid import Tasks

CASES = 100  # random cases per property
TOL = 1e-10  # relative error allowed between two ways of computing the same numbers

# ----- random cases ---------------------------------------------------------------------------------

Case = namedtuple("Case", "seed sizes steps inner_lr params tasks rng settings")


def draw(seed):
    """Case `seed`: an MLP of 1-3 inputs, 1-2 hidden layers of 1-8 units and 1-2 outputs (biases
    nonzero, so that no unit sits exactly on its kink), 1-4 tasks with 1-5 support and 1-5 query points,
    1-3 inner steps and an inner rate in [0.001, 0.1]. case.rng goes on to draw learned meta-parameters
    and directions; case.settings, empty here, holds an algorithm's own settings (its `prepare`)."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    sizes = (n_in, *(int(n) for n in rng.integers(1, 9, size=rng.integers(1, 3))), n_out)
    n_tasks, k_support, k_query = (int(n) for n in rng.integers(1, (5, 6, 6)))
    steps, inner_lr = int(rng.integers(1, 4)), float(rng.uniform(0.001, 0.1))
    params = [p + 0.1 * rng.standard_normal(p.shape) for p in mlp.init(rng, sizes)]
    tasks = Tasks(rng.uniform(-2, 2, (n_tasks, k_support, n_in)), rng.normal(size=(n_tasks, k_support, n_out)),
                  rng.uniform(-2, 2, (n_tasks, k_query, n_in)), rng.normal(size=(n_tasks, k_query, n_out)),
                  None, None)
    return Case(seed, sizes, steps, inner_lr, params, tasks, rng, {})


def describe(case):
    n_tasks, k_support, _ = case.tasks.x_support.shape
    return (f"seed {case.seed}, sizes {case.sizes}, {n_tasks} task{'s' * (n_tasks > 1)}, K {k_support}, "
            f"Q {case.tasks.x_query.shape[1]}, {case.steps} step{'s' * (case.steps > 1)}, "
            f"inner_lr {case.inner_lr:.4g}"
            + "".join(f", {name} {value:.4g}" for name, value in case.settings.items()))


def smallness(case):
    """The order in which failing cases are shown: fewest steps, then fewest weights, tasks and points."""
    n_tasks, k_support, _ = case.tasks.x_support.shape
    return (case.steps, sum(p.size for p in case.params), n_tasks, k_support + case.tasks.x_query.shape[1],
            case.seed)


def rates(case, shape):
    """Learned rates away from any constant: U[0.001, 0.1]."""
    return case.rng.uniform(0.001, 0.1, shape)


def curvature(case):
    """Meta-Curvature away from the identity: I + 0.1 noise pairs for weights, 1 + 0.1 noise for biases."""
    def near_identity(n):
        return np.eye(n) + 0.1 * case.rng.standard_normal((n, n))
    return [(near_identity(p.shape[0]), near_identity(p.shape[1])) if p.ndim == 2
            else 1 + 0.1 * case.rng.standard_normal(p.shape) for p in case.params]


# ----- the references: one task at a time -----------------------------------------------------------

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


def maml_loss(params, tasks, inner_lr, steps):
    """MAML's meta-loss task by task; autograd differentiates through the loop for the exact meta-gradient."""
    total = 0.0
    for xs, ys, xq, yq in zip(tasks.x_support, tasks.y_support, tasks.x_query, tasks.y_query):
        w = params
        for _ in range(steps):
            w = [p - inner_lr * g for p, g in zip(w, grad(mlp.mse)(w, xs, ys))]
        total = total + mlp.mse(w, xq, yq)
    return total / len(tasks.x_support)


def kron(pair, g):
    """Meta-Curvature's M_in G M_out for one task's G (n_in, n_out), as (M_out^T kron M_in) vec G."""
    m_in, m_out = pair
    return np.reshape(np.kron(m_out.T, m_in) @ np.ravel(g, order="F"), g.shape, order="F")


# the inner step of one task, w <- update(w, g, s), of each algorithm
def sgd(inner_lr):
    return lambda w, g, s: [p - inner_lr * gi for p, gi in zip(w, g)]


def per_weight(lr):  # Meta-SGD: lr a list of arrays shaped like the weights
    return lambda w, g, s: [p - a * gi for p, a, gi in zip(w, lr, g)]


def per_array_and_step(lr, curvature=None):  # LSLR, and with a curvature Enhanced: row lr[s], the last past them
    def transform(i, g):
        return g if curvature is None else kron(curvature[i], g) if g.ndim == 2 else curvature[i] * g
    return lambda w, g, s: [p - lr[min(s, len(lr) - 1)][i] * transform(i, gi) for i, (p, gi) in enumerate(zip(w, g))]


def curved(curvature, inner_lr):  # Meta-Curvature
    return per_array_and_step(np.full((1, len(curvature)), inner_lr), curvature)


def head_only(inner_lr):  # ANIL: the last two arrays
    return lambda w, g, s: w[:-2] + [p - inner_lr * gi for p, gi in zip(w[-2:], g[-2:])]


def pulled(theta, inner_lr, reg):  # iMAML: a step on L_s(w) + reg/2 |w - theta|^2
    return lambda w, g, s: [p - inner_lr * (gi + reg * (p - t)) for p, gi, t in zip(w, g, theta)]


def newton_step(theta, inner_lr, reg, x, y):  # iMAML with newton_cg: w - rate solve(reg I + H_s(w), grad F)
    def update(w, g, s):
        grad_F, unflatten = gradcheck.flatten([gi + reg * (p - t) for p, gi, t in zip(w, g, theta)])
        hessian_F = reg * np.eye(grad_F.size) + loss_hessian(w, x, y)  # dense, at the task's current w
        return [p - inner_lr * d for p, d in zip(w, unflatten(np.linalg.solve(hessian_F, grad_F)))]
    return update


def regularised(w, theta, x, y, reg):
    """iMAML's objective for one task: L_s(w) + reg/2 |w - theta|^2."""
    return mlp.mse(w, x, y) + reg / 2 * sum(np.sum((p - t) ** 2) for p, t in zip(w, theta))


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


# ----- the properties: each returns the error of one case, or raises Failed --------------------------

class Failed(Exception):
    """A property does not hold; the message says how."""


class NotSmooth(Exception):
    """The meta-loss is not smooth at this case's point along any direction tried (with ReLUs: a unit's
    input within a step h of 0, at the weights or after an inner step): no central difference checks a
    gradient there, so the case is skipped."""


def same_shapes(got, expected):
    got_shapes, shapes = [np.shape(a) for a in got], [np.shape(b) for b in expected]
    if got_shapes != shapes:
        raise Failed(f"arrays of shapes {got_shapes}, expected {shapes}")


def distance(got, expected):
    """max over arrays of max |got - expected| / (1 + max |expected|), for lists of arrays of equal shapes."""
    same_shapes(got, expected)
    return max((float(np.max(np.abs(a - b), initial=0) / (1 + np.max(np.abs(b), initial=0)))
                for a, b in zip(got, expected)), default=0.0)


def scalar_distance(got, expected):
    if np.shape(got) != ():
        raise Failed(f"a meta-loss of shape {np.shape(got)}, expected a scalar")
    return float(abs(got - expected) / (1 + abs(expected)))


def central_differences(f, meta, case, h):
    """gradcheck's relative error of autograd's gradient of f against central differences at meta."""
    found = gradcheck.directional_error(f, meta, grad(f)(meta), case.rng, h)
    if found is None:
        raise NotSmooth()
    return found[0]


def support(case):
    return case.tasks.x_support, case.tasks.y_support


def looped(algo, meta, case, steps):
    """The reference's fast weights after 0, 1, ..., steps inner steps: algo.loop's, or a trajectory of algo.update."""
    if algo.loop:
        return algo.loop(meta, case, steps)
    return trajectory(case.params, *support(case), algo.update(meta, case), steps)


def adapt_is_a_loop(algo, m, case, more=0):
    meta = algo.meta(case)
    expected = looped(algo, meta, case, case.steps + more)[-1]
    return distance(algo.adapt(m, meta, *support(case), case, case.steps + more), expected)


def meta_loss_is_query_loss(algo, m, case):
    meta = algo.meta(case)
    fast = looped(algo, meta, case, case.steps)[-1]
    return scalar_distance(algo.loss(m, meta, case), query_loss(fast, case.tasks))


def gradient_is_central_differences(algo, m, case):
    return central_differences(lambda meta: algo.loss(m, meta, case), algo.meta(case), case, algo.h)


def first_order_is_query_gradient(algo, m, case):
    meta = algo.meta(case)
    got = algo.weights(grad(lambda meta: algo.loss(m, meta, case, first_order=True))(meta))
    fast = looped(algo, meta, case, case.steps)[-1]
    return distance(got, query_gradient(fast, case.tasks))


def at_init_is_maml(algo, m, case):
    meta = algo.init(m, case)
    loss = lambda meta: algo.loss(m, meta, case)
    maml = lambda params: maml_loss(params, case.tasks, case.inner_lr, case.steps)
    return max(scalar_distance(loss(meta), maml(case.params)),
               distance(algo.weights(grad(loss)(meta)), grad(maml)(case.params)))


def zero_steps_change_nothing(algo, m, case):
    fast = algo.adapt(m, algo.meta(case), *support(case), case, 0)
    return distance(fast, [np.repeat(p[None], len(case.tasks.x_support), axis=0) for p in case.params])


def bad_input_raises(algo, m, case):
    return all_raise(algo.bad_inputs(m, case))


def all_raise(calls, named=False):
    """0.0 if every call of the (label, call) pairs raises a ValueError, and with named one whose message has
    the value after the label's "="; else Failed, saying which did not."""
    wrong = []
    for label, call in calls:
        try:
            call()
        except ValueError as e:
            if named and label.split("=")[-1] not in str(e):
                wrong.append(f"{label}'s ValueError does not name the value: {one_line(e)}")
            continue
        except Exception as e:
            wrong.append(f"{label} raised {type(e).__name__}")
        else:
            wrong.append(f"{label} was accepted")
    if wrong:
        raise Failed("; ".join(wrong))
    return 0.0


def reptile_direction(algo, m, case):
    fast = trajectory(case.params, *support(case), sgd(case.inner_lr), case.steps)[-1]
    expected = [p - np.mean(w, axis=0) for p, w in zip(case.params, fast)]
    return distance(m.meta_gradient(case.params, case.tasks, mlp.mse, case.inner_lr, case.steps), expected)


def all_head_is_maml(algo, m, case):
    head = case.params[-2:]
    width = head[0].shape[0]  # the inputs become the head's features: x repeated across them
    tasks = case.tasks._replace(x_support=np.repeat(case.tasks.x_support[..., :1], width, axis=-1),
                                x_query=np.repeat(case.tasks.x_query[..., :1], width, axis=-1))
    anil = lambda params: m.meta_loss(params, tasks, mlp.mse, case.inner_lr, case.steps)
    maml = lambda params: maml_loss(params, tasks, case.inner_lr, case.steps)
    return max(scalar_distance(anil(head), maml(head)), distance(grad(anil)(head), grad(maml)(head)))


def multi_step_loss_is_weighted_sum(algo, m, case):
    meta, weights = algo.meta(case), case.rng.uniform(0, 1, case.steps)
    fast = looped(algo, meta, case, case.steps)
    expected = sum(weights[s] * query_loss(fast[s + 1], case.tasks) for s in range(case.steps))
    return scalar_distance(m.meta_loss(meta, case.tasks, mlp.mse, weights), expected)


def multi_step_gradient_is_central_differences(algo, m, case):
    meta, weights = algo.meta(case), case.rng.dirichlet(np.ones(case.steps))
    return central_differences(lambda meta: m.meta_loss(meta, case.tasks, mlp.mse, weights), meta, case, algo.h)


def msl_weights_anneal(algo, m, case):
    """Every step count 1-6, three annealing lengths, iterations at the start, middle, end and past it."""
    worst = 0.0
    for steps in range(1, 7):
        for anneal in (1, 10, 50):
            for iteration in sorted({0, 1, anneal // 2, anneal - 1, anneal, anneal + 7}):
                call = f"msl_weights({steps}, {iteration}, {anneal})"
                w = np.asarray(m.msl_weights(steps, iteration, anneal), dtype=float)
                shown = "[" + ", ".join(f"{v:.4g}" for v in w) + "]"
                if w.shape != (steps,):
                    raise Failed(f"{call} has shape {w.shape}, expected ({steps},)")
                worst = max(worst, abs(np.sum(w) - 1))
                if not abs(np.sum(w) - 1) <= 1e-12:
                    raise Failed(f"{call} = {shown} sums to {float(np.sum(w)):.12g}, not 1")
                if np.any(w < 0):
                    raise Failed(f"{call} = {shown} has a negative weight")
                if iteration == 0 and not np.allclose(w, 1 / steps, rtol=1e-12, atol=0):
                    raise Failed(f"{call} = {shown} is not uniform at iteration 0")
                if iteration >= anneal and not np.allclose(w, np.eye(steps)[-1], rtol=0, atol=1e-12):
                    raise Failed(f"{call} = {shown} is not one-hot on the last step from anneal_iterations on")
    return worst


# iMAML

CG_STEPS = 20  # for the meta-gradient. At phi, on seeds 0-999, I + H/reg had eigenvalues in [0.76, 1.51]
# (imaml_case): CG's error bound shrinks about 6 times a step, to below 1e-15 in 20 steps


def objective_never_rises(algo, m, case):
    """The largest rise of a task's objective from k to k + 1 steps of adapt, relative to 1 + its value."""
    x, y = support(case)
    fast = [algo.adapt(m, algo.meta(case), x, y, case, k) for k in range(case.steps + 1)]
    worst = 0.0
    for t in range(len(x)):
        values = [regularised([w[t] for w in f], case.params, x[t], y[t], case.settings["reg"]) for f in fast]
        for k in range(case.steps):
            rise = (values[k + 1] - values[k]) / (1 + abs(values[k]))
            if not rise <= TOL:  # also catches nan
                raise Failed(f"task {t}'s objective went from {values[k]:.6g} to {values[k + 1]:.6g} at step {k + 1}")
            worst = max(worst, rise)
    return worst


def own_rates(algo, m, case):
    """adapt with one more task, task 0's support points times 10 (its first step refused on 95 of seeds 0-99),
    against adapt without it, on the case's tasks; a step more than the case's, so that a refusal has an effect."""
    (x, y), steps = support(case), case.steps + 1
    sharper = np.concatenate([x, 10 * x[:1]]), np.concatenate([y, 10 * y[:1]])
    more = algo.adapt(m, algo.meta(case), *sharper, case, steps)
    return distance([w[:-1] for w in more], algo.adapt(m, algo.meta(case), x, y, case, steps))


def implicit_is_dense(algo, m, case, newton=False):
    reg, rate = case.settings["reg"], case.settings["newton_lr"] if newton else case.inner_lr
    more = dict(newton_cg=CG_STEPS) if newton else {}
    got = m.meta_gradient(case.params, case.tasks, mlp.mse, rate, case.steps, reg, CG_STEPS, **more)
    return distance(got, implicit_gradient(case.params, case.tasks, rate, case.steps, reg, newton))


# iMAML's Newton steps (newton_cg > 0), at the case's settings["newton_lr"] (imaml_case); CG_STEPS CG steps solve
# each step's system (I + H/reg) d = grad F / reg up to rounding, as they solve the meta-gradient's (seeds 0-99:
# worst error against the dense loop 9.2e-17 with CG_STEPS, as with one CG step per weight, in half the time)

def takes_newton_cg(m):
    """None if m.adapt has a newton_cg parameter, else why the Newton properties are skipped."""
    if "newton_cg" not in inspect.signature(m.adapt).parameters:
        return "adapt has no newton_cg parameter"


def newton(algo, newton_cg=None):
    """iMAML's entry with Newton inner steps, newton_cg CG steps each (None: CG_STEPS), and the
    per-task loop of dense Newton steps as its reference."""
    def adapt(m, meta, x, y, case, steps):
        n = newton_cg or CG_STEPS
        return m.adapt(meta, x, y, mlp.mse, case.settings["newton_lr"], steps, case.settings["reg"], newton_cg=n)
    return algo._replace(adapt=adapt, loop=lambda meta, case, steps: halving(
        meta, *support(case), case.settings["newton_lr"], case.settings["reg"], steps, newton=True))


def systems(case, extra=0):
    """A symmetric positive definite system for each task and `extra` more, n unknowns shaped like the case's
    weights: A (T, n, n) = I + M M^T / n for M standard normal (eigenvalues from 1 to about 5), b (T, n), and
    matvec, which applies every task's own A_t to its slice of a list of (T,) + p.shape arrays."""
    n_tasks, n = len(case.tasks.x_support) + extra, sum(p.size for p in case.params)
    M = case.rng.standard_normal((n_tasks, n, n))
    A = np.eye(n) + M @ np.swapaxes(M, 1, 2) / n
    return A, case.rng.standard_normal((n_tasks, n)), lambda v: unflat(np.einsum("tij,tj->ti", A, flat(v)), case)


def flat(weights):  # a list of (T,) + p.shape arrays -> (T, n)
    return np.concatenate([np.reshape(w, (len(w), -1)) for w in weights], axis=1)


def unflat(vectors, case):  # (T, n) -> a list of (T,) + p.shape arrays, p the case's weights
    ends = np.cumsum([p.size for p in case.params])[:-1]
    return [np.reshape(v, (len(vectors),) + p.shape) for v, p in zip(np.split(vectors, ends, axis=1), case.params)]


def cg_iterates(algo, m, case):
    A, b, matvec = systems(case)
    expected = [conjugate_gradient(A[t], b[t], case.steps) for t in range(len(b))]
    return distance(m.cg(matvec, unflat(b, case), case.steps), unflat(np.stack(expected), case))


def cg_solves(algo, m, case):
    A, b, matvec = systems(case, extra=1)
    b[-1] = 0  # one more task, whose right-hand side is 0 (its query gradient vanished): u = 0, and no 0 / 0
    u = m.cg(matvec, unflat(b, case), b.shape[1])
    same_shapes(u, unflat(b, case))
    residual = b - np.einsum("tij,tj->ti", A, flat(u))
    return float(np.max(np.linalg.norm(residual, axis=1) / (1 + np.linalg.norm(b, axis=1))))


# CAVIA: case.params take n_context more inputs (cavia_case)

def contexts_are_a_loop(algo, m, case, steps=None):
    steps = case.steps if steps is None else steps
    expected = contexts_by_loop(case.params, *support(case), case.settings["n_context"], case.inner_lr, steps)
    return distance([algo.adapt(m, case.params, *support(case), case, steps)], [expected])


def context_meta_loss(algo, m, case):
    contexts = contexts_by_loop(case.params, *support(case), case.settings["n_context"], case.inner_lr, case.steps)
    return scalar_distance(algo.loss(m, case.params, case), context_query_loss(case.params, case.tasks, contexts))


def contexts_held_constant(algo, m, case):
    contexts = contexts_by_loop(case.params, *support(case), case.settings["n_context"], case.inner_lr, case.steps)
    got = grad(lambda params: algo.loss(m, params, case, first_order=True))(case.params)
    return distance(got, grad(lambda params: context_query_loss(params, case.tasks, contexts))(case.params))


def no_context_is_plain(algo, m, case):
    x, y = support(case)
    params = [case.params[0][:x.shape[-1]]] + case.params[1:]  # the network without its context inputs
    loss = lambda params: m.meta_loss(params, case.tasks, mlp.mse, 0, case.inner_lr, case.steps)
    plain = lambda params: context_query_loss(params, case.tasks, np.zeros((len(x), 0)))
    return max(distance([m.adapt(params, x, y, mlp.mse, 0, case.inner_lr, case.steps)], [np.zeros((len(x), 0))]),
               scalar_distance(loss(params), plain(params)), distance(grad(loss)(params), grad(plain)(params)))


def with_context_appends(algo, m, case):
    x = case.tasks.x_support
    contexts = case.rng.standard_normal((len(x), case.settings["n_context"]))
    return distance([m.with_context(x, contexts)], [np.stack([appended(xt, c) for xt, c in zip(x, contexts)])])


# needs: module -> why the property does not apply to that module (it is skipped, and its line says why), or None
Property = namedtuple("Property", "text check tol once needs", defaults=(False, None))

ADAPT = Property("adapt: batched equals a per-task loop", adapt_is_a_loop, TOL)
PAST_TRAINED = Property("adapt: a step past the trained ones reuses the last row of rates",
                        lambda algo, m, case: adapt_is_a_loop(algo, m, case, more=1), TOL)
META_LOSS = Property("meta_loss: the mean query loss after adapting, task by task", meta_loss_is_query_loss, TOL)
GRADIENT = Property("meta-gradient: autograd's equals central differences", gradient_is_central_differences,
                    gradcheck.TOL)
FIRST_ORDER = Property("first order: the query gradient at the adapted weights", first_order_is_query_gradient, TOL)
AT_INIT = Property("at init it is MAML: meta-loss and meta-gradient", at_init_is_maml, TOL)
ZERO_STEPS = Property("zero steps: adapt leaves the weights unchanged", zero_steps_change_nothing, 0.0)
BAD_INPUT = Property("bad input raises ValueError", bad_input_raises, None, once=True)
REPTILE = Property("meta_gradient: theta - mean adapted weights, task by task", reptile_direction, TOL)
ALL_HEAD = Property("a network that is all head: MAML's meta-loss and meta-gradient", all_head_is_maml, TOL)
MULTI_STEP = Property("multi-step loss: the weighted sum of per-step query losses",
                      multi_step_loss_is_weighted_sum, TOL)
MULTI_STEP_GRADIENT = Property("multi-step meta-gradient: autograd's equals central differences",
                               multi_step_gradient_is_central_differences, gradcheck.TOL)
MSL_WEIGHTS = Property("msl_weights: sum to 1, uniform at first, one-hot on the last step after annealing",
                       msl_weights_anneal, 1e-12, once=True)
HALVING = Property("adapt: batched equals a per-task loop in which a step that would raise the task's objective "
                   "is not taken and halves its rate", adapt_is_a_loop, TOL)
NEVER_RISES = Property("adapt: no task's objective L_s + reg/2 |phi - theta|^2 rises from k to k + 1 steps "
                       "(relative to 1 + itself)", objective_never_rises, TOL)
OWN_RATES = Property("adapt: every task has its own rate: a sharper task added to the batch, whose steps get refused, "
                     "changes no other task's fast weights", own_rates, TOL)
QUERY_LOSS = Property("query_loss_and_meta_gradient: its loss is the mean query loss after adapting, task by task",
                      meta_loss_is_query_loss, TOL)
IMPLICIT = Property(f"meta_gradient: the mean of (I + H/reg)^-1 grad L_q at phi, H a dense Hessian, task by task "
                    f"({CG_STEPS} CG steps)", implicit_is_dense, TOL)
CG_ITERATES = Property("cg: k steps give every task its own k-th CG iterate (k the case's steps)", cg_iterates, TOL)
CG_SOLVES = Property("cg: n steps solve every task's positive definite system of n unknowns, and one more with b = 0 "
                     "(|residual| / (1 + |b|))", cg_solves, TOL)
NEWTON = Property(f"adapt with newton_cg = {CG_STEPS}: batched equals a per-task loop of Newton steps, "
                  "w - rate solve(reg I + H, grad F) with H a dense Hessian at w, under the same halving rule",
                  lambda algo, m, case: adapt_is_a_loop(newton(algo), m, case), TOL, needs=takes_newton_cg)
NEWTON_NEVER_RISES = Property("adapt with newton_cg = 2 (CG stopped short): no task's objective rises from k to k + 1 "
                              "steps", lambda algo, m, case: objective_never_rises(newton(algo, 2), m, case), TOL,
                              needs=takes_newton_cg)
NEWTON_IMPLICIT = Property(f"meta_gradient with newton_cg = {CG_STEPS}: the dense implicit formula at the "
                           f"per-task loop's phi ({CG_STEPS} CG steps)",
                           lambda algo, m, case: implicit_is_dense(algo, m, case, newton=True), TOL,
                           needs=takes_newton_cg)
NEWTON_BAD_INPUT = Property("newton_cg=-1 (adapt) and 0.5 (meta_gradient) raise a ValueError naming the value",
                            lambda algo, m, case: all_raise(newton_bad_inputs(m, case), named=True), None, once=True,
                            needs=takes_newton_cg)
BAD_INPUTS = (BAD_INPUT, NEWTON_BAD_INPUT)  # run only with --bad-input: by default the algorithm is graded, not its errors
CONTEXTS = Property("adapt: every task's context by a per-task loop of steps on the context alone, from 0",
                    contexts_are_a_loop, TOL)
CONTEXT_LOSS = Property("meta_loss: the mean query loss with the adapted contexts, task by task", context_meta_loss,
                        TOL)
CONTEXTS_CONSTANT = Property("first order: the query gradient with the adapted contexts held constant",
                             contexts_held_constant, TOL)
NO_CONTEXT = Property("n_context = 0: meta_loss and its gradient are the plain query loss's", no_context_is_plain, TOL)
ZERO_CONTEXT_STEPS = Property("zero steps: every context stays 0",
                              lambda algo, m, case: contexts_are_a_loop(algo, m, case, steps=0), 0.0)
WITH_CONTEXT = Property("with_context: every task's context appended to each of its inputs", with_context_appends, 0.0)


# ----- the algorithms ------------------------------------------------------------------------------

def maml_bad_inputs(m, case):
    p, t = case.params, case.tasks
    return [("inner_lr=-0.1", lambda: m.meta_loss(p, t, mlp.mse, -0.1, 1)),
            ("inner_lr=0", lambda: m.meta_loss(p, t, mlp.mse, 0.0, 1)),
            ("inner_steps=-1", lambda: m.meta_loss(p, t, mlp.mse, 0.01, -1)),
            ("inner_steps=1.5", lambda: m.meta_loss(p, t, mlp.mse, 0.01, 1.5))]


def reptile_bad_inputs(m, case):
    p, t = case.params, case.tasks
    return [("inner_lr=-1", lambda: m.meta_gradient(p, t, mlp.mse, -1.0, 1)),
            ("inner_steps=0", lambda: m.meta_gradient(p, t, mlp.mse, 0.01, 0)),
            ("inner_steps=1.5", lambda: m.meta_gradient(p, t, mlp.mse, 0.01, 1.5))]


def metasgd_bad_inputs(m, case):
    p, t = case.params, case.tasks
    lr = [np.full(q.shape, 0.01) for q in p]
    return [("inner_steps=-1", lambda: m.meta_loss({"params": p, "lr": lr}, t, mlp.mse, -1)),
            ("inner_steps=1.5", lambda: m.meta_loss({"params": p, "lr": lr}, t, mlp.mse, 1.5)),
            ("meta without 'lr'", lambda: m.meta_loss({"params": p}, t, mlp.mse, 1))]


def lslr_bad_inputs(m, case):
    p, t = case.params, case.tasks
    meta = {"params": p, "lr": np.full((case.steps, len(p)), 0.01)}
    return [("init inner_steps=0", lambda: m.init(p, 0)),
            ("meta with a key 'curvature' too many", lambda: m.meta_loss(dict(meta, curvature=None), t, mlp.mse)),
            ("adapt inner_steps=-1", lambda: m.adapt(meta, *support(case), mlp.mse, -1))]


def identity_curvature(params):
    return [(np.eye(q.shape[0]), np.eye(q.shape[1])) if q.ndim == 2 else np.ones(q.shape) for q in params]


def metacurvature_bad_inputs(m, case):
    p, t = case.params, case.tasks
    meta = {"params": p, "curvature": identity_curvature(p)}
    return [("inner_lr=-0.1", lambda: m.meta_loss(meta, t, mlp.mse, -0.1, 1)),
            ("inner_steps=-2", lambda: m.meta_loss(meta, t, mlp.mse, 0.01, -2)),
            ("meta without 'curvature'", lambda: m.meta_loss({"params": p}, t, mlp.mse, 0.01, 1))]


def enhanced_bad_inputs(m, case):
    p, t, steps = case.params, case.tasks, case.steps
    meta = {"params": p, "lr": np.full((steps, len(p)), 0.01), "curvature": identity_curvature(p)}
    return [("init inner_steps=0", lambda: m.init(p, 0)),
            ("meta without 'curvature'", lambda: m.meta_loss({"params": p, "lr": meta["lr"]}, t, mlp.mse)),
            ("adapt inner_steps=-1", lambda: m.adapt(meta, *support(case), mlp.mse, -1)),
            ("msl_weights(0, 0, 10)", lambda: m.msl_weights(0, 0, 10)),
            ("msl_weights(3, -1, 10)", lambda: m.msl_weights(3, -1, 10))]


def anil_bad_inputs(m, case):
    return maml_bad_inputs(m, case)


@functools.lru_cache(maxsize=None)
def largest_curvature(seed):
    """The largest |eigenvalue| of case `seed`'s support-loss Hessians at its weights, or 1 if that is larger
    (computed once per seed: every iMAML property asks)."""
    case = draw(seed)
    return max([1.0] + [float(np.max(np.abs(np.linalg.eigvalsh(loss_hessian(case.params, x, y)))))
                        for x, y in zip(*support(case))])


def imaml_case(case):
    """iMAML's case: reg four times the support losses' largest curvature at theta, so that near theta
    I + H/reg has eigenvalues in [0.75, 1.25] (positive definite, and CG converges fast), and an inner rate
    of 1 / (reg + largest curvature), at which the regularised steps contract toward phi; or, in one case in
    three, 1.5 to 2 times plain steps' stability limit 2 / (reg + largest curvature) and a step more, at which
    steps get refused and rates halved (on seeds 0-999, 330 such cases: in every one some task's step is
    refused and its next step taken). The Newton properties' rate, settings["newton_lr"]: 1, the full Newton
    step, or in those cases 3, which on a quadratic F raises F (past rate 2 a Newton step does) and halves to
    1.5 (in all 330 some task's dense Newton step is refused and its next taken; and in 69 of the other 670
    a rate-1 step is refused too, where F is not quadratic)."""
    largest = largest_curvature(case.seed)
    reg, limit = 4 * largest, 2 / (5 * largest)
    if case.rng.uniform() < 1 / 3:
        return case._replace(steps=case.steps + 1, inner_lr=case.rng.uniform(1.5, 2) * limit,
                             settings={"reg": reg, "newton_lr": 3.0})
    return case._replace(inner_lr=limit / 2, settings={"reg": reg, "newton_lr": 1.0})


def imaml_bad_inputs(m, case):
    p, t, lr, reg = case.params, case.tasks, case.inner_lr, case.settings["reg"]
    return [("reg=0", lambda: m.meta_gradient(p, t, mlp.mse, lr, 1, 0.0, 3)),
            ("adapt reg=-1", lambda: m.adapt(p, *support(case), mlp.mse, lr, 2, -1.0)),
            ("inner_lr=-0.1", lambda: m.meta_gradient(p, t, mlp.mse, -0.1, 1, reg, 3)),
            ("inner_steps=-1", lambda: m.meta_gradient(p, t, mlp.mse, lr, -1, reg, 3)),
            ("cg_steps=0", lambda: m.meta_gradient(p, t, mlp.mse, lr, 1, reg, 0)),
            ("cg_steps=2.5", lambda: m.query_loss_and_meta_gradient(p, t, mlp.mse, lr, 1, reg, 2.5))]


def newton_bad_inputs(m, case):
    p, t, lr, reg = case.params, case.tasks, case.inner_lr, case.settings["reg"]
    return [("adapt newton_cg=-1", lambda: m.adapt(p, *support(case), mlp.mse, lr, 1, reg, newton_cg=-1)),
            ("meta_gradient newton_cg=0.5", lambda: m.meta_gradient(p, t, mlp.mse, lr, 1, reg, 3, newton_cg=0.5))]


def cavia_case(case):
    """CAVIA's case: 1-3 context numbers, which the network takes as that many more inputs (standard normal
    rows appended to its first weight matrix)."""
    n_context, W1 = int(case.rng.integers(1, 4)), case.params[0]
    params = [np.vstack([W1, case.rng.standard_normal((n_context, W1.shape[1]))])] + case.params[1:]
    return case._replace(sizes=(case.sizes[0] + n_context, *case.sizes[1:]), params=params,
                         settings={"n_context": n_context})


def cavia_bad_inputs(m, case):
    p, t, n = case.params, case.tasks, case.settings["n_context"]
    return [("inner_lr=0", lambda: m.meta_loss(p, t, mlp.mse, n, 0.0, 1)),
            ("inner_steps=-1", lambda: m.meta_loss(p, t, mlp.mse, n, 0.01, -1)),
            ("adapt inner_steps=1.5", lambda: m.adapt(p, *support(case), mlp.mse, n, 0.01, 1.5))]


Algorithm = namedtuple("Algorithm", [
    "functions",   # the names FILE must define
    "meta",        # case -> learned meta-parameters away from their init (as autograd differentiates them)
    "weights",     # meta-parameters (or their gradient) -> the network's weights among them
    "update",      # (meta, case) -> the inner step of one task, (w, g, s) -> w, or None (see loop)
    "adapt",       # (module, meta, x, y, case, steps) -> module's fast weights
    "loss",        # (module, meta, case, **first_order) -> module's meta-loss
    "init",        # (module, case) -> module's initial meta-parameters, for the reduction to MAML
    "h",           # finite-difference step: learned rates and matrices bend the meta-loss sharply
    "bad_inputs",  # (module, case) -> [(label, call that must raise ValueError)]
    "properties",
    "prepare",     # case -> the case with the algorithm's own settings (case.settings), or None: as drawn
    "loop"],       # (meta, case, steps) -> the reference's fast weights after 0..steps steps, where a step
    defaults=(None, None))  # depends on more than w, g and s (iMAML's); None: update's trajectory


def meta_params(meta):
    return meta["params"]


MAML_LIKE = dict(meta=lambda case: case.params, weights=lambda meta: meta, h=gradcheck.H)

ALGORITHMS = {
    "maml": Algorithm(
        functions=("adapt", "meta_loss"), **MAML_LIKE, init=None,
        update=lambda meta, case: sgd(case.inner_lr),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.inner_lr, case.steps, **kw),
        bad_inputs=maml_bad_inputs,
        properties=(ADAPT, META_LOSS, GRADIENT, FIRST_ORDER, ZERO_STEPS, BAD_INPUT)),
    "reptile": Algorithm(
        functions=("adapt", "meta_gradient"), **MAML_LIKE, init=None, loss=None,
        update=lambda meta, case: sgd(case.inner_lr),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps),
        bad_inputs=reptile_bad_inputs,
        properties=(ADAPT, REPTILE, BAD_INPUT)),
    "metasgd": Algorithm(
        functions=("init", "adapt", "meta_loss"), weights=meta_params, h=1e-5,
        meta=lambda case: {"params": case.params, "lr": [rates(case, p.shape) for p in case.params]},
        update=lambda meta, case: per_weight(meta["lr"]),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.steps, **kw),
        init=lambda m, case: m.init(case.params, case.inner_lr),
        bad_inputs=metasgd_bad_inputs,
        properties=(ADAPT, META_LOSS, GRADIENT, FIRST_ORDER, AT_INIT, ZERO_STEPS, BAD_INPUT)),
    "lslr": Algorithm(
        functions=("init", "adapt", "meta_loss"), weights=meta_params, h=1e-5,
        meta=lambda case: {"params": case.params, "lr": rates(case, (case.steps, len(case.params)))},
        update=lambda meta, case: per_array_and_step(meta["lr"]),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, **kw),
        init=lambda m, case: m.init(case.params, case.steps, case.inner_lr),
        bad_inputs=lslr_bad_inputs,
        properties=(ADAPT, PAST_TRAINED, META_LOSS, GRADIENT, FIRST_ORDER, AT_INIT, ZERO_STEPS, BAD_INPUT)),
    "metacurvature": Algorithm(
        functions=("init", "adapt", "meta_loss"), weights=meta_params, h=1e-5,
        meta=lambda case: {"params": case.params, "curvature": curvature(case)},
        update=lambda meta, case: curved(meta["curvature"], case.inner_lr),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.inner_lr, case.steps, **kw),
        init=lambda m, case: m.init(case.params),
        bad_inputs=metacurvature_bad_inputs,
        properties=(ADAPT, META_LOSS, GRADIENT, FIRST_ORDER, AT_INIT, ZERO_STEPS, BAD_INPUT)),
    "enhanced": Algorithm(
        functions=("init", "adapt", "meta_loss", "msl_weights"), weights=meta_params, h=1e-5,
        meta=lambda case: {"params": case.params, "lr": rates(case, (case.steps, len(case.params))),
                           "curvature": curvature(case)},
        update=lambda meta, case: per_array_and_step(meta["lr"], meta["curvature"]),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, **kw),
        init=lambda m, case: m.init(case.params, case.steps, case.inner_lr),
        bad_inputs=enhanced_bad_inputs,
        properties=(ADAPT, PAST_TRAINED, META_LOSS, MULTI_STEP, GRADIENT, MULTI_STEP_GRADIENT, FIRST_ORDER,
                    AT_INIT, MSL_WEIGHTS, ZERO_STEPS, BAD_INPUT)),
    "anil": Algorithm(
        functions=("adapt", "meta_loss"), **MAML_LIKE, init=None,
        update=lambda meta, case: head_only(case.inner_lr),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.inner_lr, case.steps, **kw),
        bad_inputs=anil_bad_inputs,
        properties=(ADAPT, META_LOSS, GRADIENT, FIRST_ORDER, ALL_HEAD, ZERO_STEPS, BAD_INPUT)),
    "imaml": Algorithm(
        functions=("adapt", "query_loss_and_meta_gradient", "meta_gradient", "cg"), **MAML_LIKE, init=None,
        prepare=imaml_case, update=None,
        loop=lambda meta, case, steps: halving(meta, *support(case), case.inner_lr, case.settings["reg"], steps),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps,
                                                         case.settings["reg"]),
        loss=lambda m, meta, case: m.query_loss_and_meta_gradient(meta, case.tasks, mlp.mse, case.inner_lr,
                                                                  case.steps, case.settings["reg"], 1)[0],
        bad_inputs=imaml_bad_inputs,
        properties=(HALVING, NEVER_RISES, OWN_RATES, QUERY_LOSS, IMPLICIT, CG_ITERATES, CG_SOLVES, ZERO_STEPS,
                    BAD_INPUT, NEWTON, NEWTON_NEVER_RISES, NEWTON_IMPLICIT, NEWTON_BAD_INPUT)),
    "cavia": Algorithm(
        functions=("with_context", "adapt", "meta_loss"), **MAML_LIKE, init=None, update=None,
        prepare=cavia_case,
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.settings["n_context"],
                                                         case.inner_lr, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.settings["n_context"],
                                                     case.inner_lr, case.steps, **kw),
        bad_inputs=cavia_bad_inputs,
        properties=(CONTEXTS, CONTEXT_LOSS, GRADIENT, CONTEXTS_CONSTANT, NO_CONTEXT, ZERO_CONTEXT_STEPS,
                    WITH_CONTEXT, BAD_INPUT)),
}


# ----- running the battery -------------------------------------------------------------------------

Result = namedtuple("Result", "holds worst failures skipped")


def run(prop, algo, module, seeds):
    """Check prop on every case: failures are (case, note) pairs, smallest case first; skipped counts the
    cases without a smooth direction. A property whose cases are mostly skipped does not hold either."""
    errors, failures, skipped = [], [], 0
    for seed in seeds[:1] if prop.once else seeds:
        case, note = draw(seed), None
        case = algo.prepare(case) if algo.prepare else case
        try:
            error = prop.check(algo, module, case)
        except NotSmooth:
            skipped += 1
            continue
        except Failed as e:
            error, note = math.inf, str(e)
        except Exception as e:  # the module under test raised: a failure of this case, reported as such
            error, note = math.inf, f"raised {type(e).__name__}: {one_line(e)}"
        errors.append(error)
        if not error <= (prop.tol or 0.0):  # also catches nan
            failures.append((case, note))
    worst = math.nan if any(math.isnan(e) for e in errors) else max(errors, default=None)
    holds = not failures and 2 * skipped <= len(seeds)
    return Result(holds, worst, sorted(failures, key=lambda failure: smallness(failure[0])), skipped)


def line(prop, result, n_cases):
    """One line: ✓ or ✗, the property, the worst error, skipped cases and the smallest failing case."""
    worst, failures, skipped = result.worst, result.failures, result.skipped
    shown = prop.tol is not None and worst is not None and not math.isinf(worst)
    parts = [f"worst error {worst:.1e} (tol {prop.tol:.0e})" if shown else "",
             f"{len(failures)} of {n_cases} cases fail" if failures and not prop.once else "",
             f"{skipped} of {n_cases} cases skipped: not smooth along any of 5 random directions" if skipped else ""]
    text = f"{'✓' if result.holds else '✗'} {prop.text}"
    if prop.once and failures:
        return f"{text}: {failures[0][1] or parts[0]}"
    text += "".join(f"; {part}" for part in parts if part)
    if failures:
        case, note = failures[0]
        text += f"; smallest failing case: {describe(case)}" + (f": {note}" if note else "")
    return text


def one_line(error):
    """The error's message on one line (a SyntaxError's without its file and line, said separately)."""
    return " ".join((error.msg if isinstance(error, SyntaxError) else str(error)).split())


class Unusable(Exception):
    """FILE cannot be checked; the message says why, in one line."""


def load(path, algorithm, functions):
    """FILE as a module named _tinymeta_check_ALGO, never tinymeta's own; it must define `functions`."""
    if not os.path.isfile(path):
        raise Unusable(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"_tinymeta_check_{algorithm}", path)
    if spec is None:
        raise Unusable(f"{path} is not a Python file (.py)")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)  # its own imports may sit next to it (enhanced.py's `import metacurvature`)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        raise Unusable(f"{path}{where(e, path)}: importing it raised {type(e).__name__}: {one_line(e)}") from None
    finally:
        sys.path.remove(folder)
    missing = [name for name in functions if not callable(getattr(module, name, None))]
    if missing:
        raise Unusable(f"{path} does not define {', '.join(missing)} "
                       f"(the {algorithm} check calls {', '.join(functions)})")
    return module


def where(error, path):
    """', line N' of FILE where an import-time error arose, if it arose in FILE."""
    if isinstance(error, SyntaxError) and error.lineno:
        return f", line {error.lineno}"
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if os.path.abspath(frame.filename) == os.path.abspath(path)]
    return f", line {lines[-1]}" if lines else ""


def count(least):
    def parse(text):
        if not text.isdigit() or int(text) < least:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {text!r}")
        return int(text)
    return parse


def main(argv=None):
    """`tinymeta check ALGO FILE.py [--cases N] [--seed S] [--bad-input]` (argv without the word check): the exit
    status."""
    parser = Parser(prog="tinymeta check", description="Run tinymeta's property battery for ALGO on FILE.py, "
                    "your own module with the functions and signatures of tinymeta/ALGO.py.")
    parser.add_argument("algorithm", metavar="ALGO", choices=list(ALGORITHMS), help=", ".join(ALGORITHMS))
    parser.add_argument("file", metavar="FILE.py")
    parser.add_argument("--cases", type=count(1), default=CASES,
                        help=f"random cases per property (default {CASES})")
    parser.add_argument("--seed", type=count(0), default=0,
                        help="seed of the first case; case i has seed SEED + i (default 0)")
    parser.add_argument("--bad-input", action="store_true",
                        help="also check that bad arguments (a rate <= 0, a negative step count, ...) raise a ValueError")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a bad argument (one line on stderr already)
        return e.code
    algo = ALGORITHMS[args.algorithm]
    try:
        module = load(args.file, args.algorithm, algo.functions)
    except Unusable as e:
        print(f"tinymeta check: error: {e}", file=sys.stderr)
        return 2
    seeds = range(args.seed, args.seed + args.cases)
    which = f"seeds {seeds[0]} to {seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    properties = [p for p in algo.properties if args.bad_input or p not in BAD_INPUTS]
    left_out = len(algo.properties) - len(properties)
    print(f"tinymeta check {args.algorithm} {args.file}: {len(properties)} properties, "
          f"{len(seeds)} random case{'s' * (len(seeds) > 1)} each ({which})"
          + (f"; {left_out} more with --bad-input" if left_out else ""))
    failed, rerun, skipped = 0, None, 0
    with np.errstate(all="ignore"), warnings.catch_warnings():  # a diverging inner loop shows in the properties
        warnings.simplefilter("ignore", RuntimeWarning)
        for prop in properties:
            why = prop.needs and prop.needs(module)
            if why:
                print(f"- {prop.text}: skipped, {why}")
                skipped += 1
                continue
            result = run(prop, algo, module, seeds)
            print(line(prop, result, len(seeds)), flush=True)
            failed += not result.holds
            if result.failures and not prop.once and rerun is None:
                rerun = result.failures[0][0].seed
    checked, also = len(properties) - skipped, f" ({skipped} skipped)" if skipped else ""
    if not failed:
        print(f"all {checked} properties hold{also}")
        return 0
    hint = "" if rerun is None else f"; rerun the first one's smallest failing case alone: --seed {rerun} --cases 1"
    print(f"{failed} of {checked} properties fail{also}{hint}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
