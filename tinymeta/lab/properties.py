"""The properties `python -m tinymeta check` checks: each takes (algo, module, case), an entry of checklist.ALGORITHMS,
the module under test and a random case, and returns the error of that case (0 where two ways of computing the
same numbers agree exactly), or raises Failed saying how the property breaks, or NotSmooth.
"""
import inspect
from collections import namedtuple

import autograd.numpy as np
from autograd import grad

from tinymeta import gradcheck, mlp
from tinymeta.lab.cases import support, weak_pull
from tinymeta.lab.references import (context_query_loss, contexts_by_loop, conjugate_gradient, halving,
                                     implicit_gradient, maml_loss, query_gradient, query_loss, regularised,
                                     reptile_direction, trajectory, appended)

TOL = 1e-10  # relative error allowed between two ways of computing the same numbers


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
    errors = [float(np.max(np.abs(a - b), initial=0) / (1 + np.max(np.abs(b), initial=0)))
              for a, b in zip(got, expected)]
    return float(np.max(errors, initial=0.0))  # a nan stays nan (Python's max keeps or drops it by position)


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


def one_line(error):
    """The error's message on one line (a SyntaxError's without its file and line, said separately)."""
    return " ".join((error.msg if isinstance(error, SyntaxError) else str(error)).split())


def reptile_is_the_mean_step(algo, m, case):
    expected = reptile_direction(case.params, case.tasks, case.inner_lr, case.steps)
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

CG_STEPS = 20  # for the meta-gradient, and for each Newton step's system (I + H/reg) d = grad F / reg: on the
# cases of cases.imaml_case I + H/reg is well conditioned, and 20 steps solve these systems up to rounding


def objective_never_rises(algo, m, case):
    """The largest rise of a task's objective from k to k + 1 steps of adapt, relative to 1 + its value: on the
    case, and on cases.weak_pull(case), where a rise that stays below the objective at theta is likely."""
    worst = 0.0
    weak = weak_pull(case)
    for case, on in ((case, ""), (weak, f" (cases.weak_pull: reg {weak.settings['reg']:.4g}, {weak.steps} steps)")):
        x, y = support(case)
        fast = [algo.adapt(m, algo.meta(case), x, y, case, k) for k in range(case.steps + 1)]
        for t in range(len(x)):
            values = [regularised([w[t] for w in f], case.params, x[t], y[t], case.settings["reg"]) for f in fast]
            for k in range(case.steps):
                rise = (values[k + 1] - values[k]) / (1 + abs(values[k]))
                if not rise <= TOL:  # also catches nan
                    raise Failed(f"task {t}'s objective went from {values[k]:.6g} to {values[k + 1]:.6g} at step "
                                 f"{k + 1}{on}")
                worst = max(worst, rise)
    return worst


def own_rates(algo, m, case):
    """adapt with one more task, task 0's support points times 10 (a sharper task, whose first step is refused
    in most cases), against adapt without it, on the case's tasks; a step more than the case's, so that a
    refusal has an effect."""
    (x, y), steps = support(case), case.steps + 1
    sharper = np.concatenate([x, 10 * x[:1]]), np.concatenate([y, 10 * y[:1]])
    more = algo.adapt(m, algo.meta(case), *sharper, case, steps)
    return distance([w[:-1] for w in more], algo.adapt(m, algo.meta(case), x, y, case, steps))


def implicit_is_dense(algo, m, case, newton=False):
    reg, rate = case.settings["reg"], case.settings["newton_lr"] if newton else case.inner_lr
    more = dict(newton_cg=CG_STEPS) if newton else {}
    got = m.meta_gradient(case.params, case.tasks, mlp.mse, rate, case.steps, reg, CG_STEPS, **more)
    return distance(got, implicit_gradient(case.params, case.tasks, rate, case.steps, reg, newton))


def takes_newton_cg(m):
    """None if m.adapt has a newton_cg parameter, else why the Newton properties are skipped."""
    if "newton_cg" not in inspect.signature(m.adapt).parameters:
        return "adapt has no newton_cg parameter"


def newton(algo, newton_cg=None):
    """iMAML's entry with Newton inner steps at the case's settings["newton_lr"] (cases.imaml_case), newton_cg CG
    steps each (None: CG_STEPS), and the per-task loop of dense Newton steps as its reference."""
    def adapt(m, meta, x, y, case, steps):
        n = newton_cg or CG_STEPS
        return m.adapt(meta, x, y, mlp.mse, case.settings["newton_lr"], steps, case.settings["reg"], newton_cg=n)
    return algo._replace(adapt=adapt, loop=lambda meta, case, steps: halving(
        meta, *support(case), case.settings["newton_lr"], case.settings["reg"], steps, newton=True))


def newton_bad_inputs(m, case):
    p, t, lr, reg = case.params, case.tasks, case.inner_lr, case.settings["reg"]
    return [("adapt newton_cg=-1", lambda: m.adapt(p, *support(case), mlp.mse, lr, 1, reg, newton_cg=-1)),
            ("meta_gradient newton_cg=0.5", lambda: m.meta_gradient(p, t, mlp.mse, lr, 1, reg, 3, newton_cg=0.5))]


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


# CAVIA: case.params take n_context more inputs (cases.cavia_case)

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
REPTILE = Property("meta_gradient: theta - mean adapted weights, task by task", reptile_is_the_mean_step, TOL)
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
                       "(relative to 1 + itself), on the case and over 6 steps with a weak pull", objective_never_rises,
                       TOL)
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
                              "steps, on the case and over 6 steps with a weak pull",
                              lambda algo, m, case: objective_never_rises(newton(algo, 2), m, case), TOL,
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
