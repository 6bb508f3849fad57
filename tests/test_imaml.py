"""iMAML: the implicit meta-gradient against a closed form, against central differences of the solved
inner problem, against an explicit Hessian; conjugate gradient's residual; batched against a loop; the inner
loop's rule (a step that would raise a task's objective is not taken and halves its rate), with gradient
steps and with Newton steps (newton_cg)."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, hessian
from autograd.misc import flatten
from hypothesis import assume, given, strategies as st

from oracles import directional_check
from problems import problems
from tinymeta import imaml, mlp, sinusoid
from tinymeta.sinusoid import Tasks

regs = st.floats(0.5, 10)


def one_task(tasks, t):
    return Tasks(*(a[t:t + 1] for a in tasks[:4]), None, None)


def regularised(w, params, x, y, reg):
    """One task's inner objective F(w) = L_s(w) + reg/2 |w - params|^2 (autograd's sum: it is differentiated)."""
    return mlp.mse(w, x, y) + reg / 2 * sum(anp.sum((wi - p) ** 2) for wi, p in zip(w, params))


def task_objectives(fast, params, x, y, reg):
    """Every task's F at its fast weights: (T,)."""
    return np.array([regularised([w[t] for w in fast], params, x[t], y[t], reg) for t in range(len(x))])


def adapt_one_task_at_a_time(params, x, y, inner_lr, steps, reg, newton=False):
    """The inner loop written the slow, obvious way: gradient steps on each task's F (or, with newton, Newton
    steps by an explicit solve with F's Hessian), at a rate that starts at inner_lr; a step that would raise F
    (beyond rounding) is not taken, and halves the rate."""
    out = []
    for xt, yt in zip(x, y):
        w, rate = params, inner_lr
        for _ in range(steps):
            g = [gi + reg * (wi - p) for wi, gi, p in zip(w, grad(mlp.mse)(w, xt, yt), params)]  # grad F
            if newton:
                flat, unflatten = flatten(w)
                F = lambda v: regularised(unflatten(v), params, xt, yt, reg)
                g = unflatten(np.linalg.solve(hessian(F)(flat), flatten(g)[0]))
            trial = [wi - rate * gi for wi, gi in zip(w, g)]
            value = regularised(w, params, xt, yt, reg)
            if regularised(trial, params, xt, yt, reg) <= value + 1e-12 * abs(value):
                w = trial
            else:
                rate = rate / 2
        out.append(w)
    return [np.stack(ws) for ws in zip(*out)]  # (T,) + p.shape


def support_hessians(params, tasks):
    """Every task's support-loss Hessian at the flat parameters, (T, n, n), and unflatten."""
    flat, unflatten = flatten(params)
    return np.stack([hessian(lambda w: mlp.mse(unflatten(w), x, y))(flat)
                     for x, y in zip(tasks.x_support, tasks.y_support)]), unflatten


@st.composite
def linear_problems(draw):
    """A linear model (one layer, no hidden units) with squared loss: the support loss is a quadratic
    L_s(w) = w^T H w / 2 - b^T w + c, so phi* = argmin L_s(w) + reg/2 |w - theta|^2 = (H + reg I)^-1 (reg theta + b)."""
    _, tasks, rng = draw(problems())
    params = mlp.init(rng, (tasks.x_support.shape[-1], tasks.y_support.shape[-1]))
    return [p + 0.1 * rng.standard_normal(p.shape) for p in params], tasks, rng


@given(linear_problems(), regs)
def test_linear_model_meta_gradient_is_the_derivative_of_the_closed_form(problem, reg):
    params, tasks, rng = problem
    H, unflatten = support_hessians(params, tasks)  # the same H at every w: the loss is quadratic
    flat, n = flatten(params)[0], len(H[0])
    b = [-flatten(grad(mlp.mse)(unflatten(np.zeros(n)), x, y))[0] for x, y in zip(tasks.x_support, tasks.y_support)]

    def query_loss_at_closed_form(theta):
        phis = [anp.linalg.solve(H[t] + reg * np.eye(n), reg * theta + b[t]) for t in range(len(H))]
        return anp.mean(anp.array([mlp.mse(unflatten(phi), x, y) for phi, x, y in zip(phis, tasks.x_query, tasks.y_query)]))

    # gradient descent on the regularised quadratic contracts by rho per step with rate 1/(largest + reg)
    eigenvalues = np.linalg.eigvalsh(H)
    inner_lr = 1 / (eigenvalues.max() + reg)
    rho = 1 - (eigenvalues.min() + reg) * inner_lr
    steps = int(np.ceil(np.log(1e-15) / np.log(rho))) if rho > 0 else 1
    phi = imaml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, inner_lr, steps, reg)
    for t in range(len(H)):  # the inner loop reached the closed form ...
        closed = np.linalg.solve(H[t] + reg * np.eye(n), reg * flat + b[t])
        assert np.allclose(flatten([w[t] for w in phi])[0], closed, rtol=1e-10, atol=1e-12)

    # ... and n CG steps solve n equations: the meta-gradient is the closed form's derivative
    meta = imaml.meta_gradient(params, tasks, mlp.mse, inner_lr, steps, reg, cg_steps=n)
    exact = grad(query_loss_at_closed_form)(flat)
    assert np.allclose(flatten(meta)[0], exact, rtol=1e-9, atol=1e-12 * (1 + np.max(np.abs(exact))))
    directional_check(query_loss_at_closed_form, flat, flatten(meta)[0], rng, "imaml.meta_gradient (linear)")

    # F is quadratic: one Newton step at rate 1 (n CG steps) lands on the closed form, whatever the curvature
    newton = imaml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, 1.0, 1, reg, newton_cg=n)
    for t in range(len(H)):
        closed = np.linalg.solve(H[t] + reg * np.eye(n), reg * flat + b[t])
        assert np.allclose(flatten([w[t] for w in newton])[0], closed, rtol=1e-9, atol=1e-11)
    newton_meta = imaml.meta_gradient(params, tasks, mlp.mse, 1.0, 1, reg, cg_steps=n, newton_cg=n)
    assert np.allclose(flatten(newton_meta)[0], exact, rtol=1e-8, atol=1e-11 * (1 + np.max(np.abs(exact))))


def well_conditioned(params, tasks, factor=2):
    """reg = factor (> 1) times the largest |eigenvalue| of the support Hessians at theta, inner_lr =
    1 / (largest + reg). Near theta, L_s + reg/2 |.|^2 is then strongly convex, GD contracts by at least
    2 / (1 + factor) per step, and I + H/reg has eigenvalues in [1 - 1/factor, 1 + 1/factor]: CG is fast too."""
    H, _ = support_hessians(params, tasks)
    largest = max(1.0, np.max(np.abs(np.linalg.eigvalsh(H))))
    return factor * largest, 1 / ((1 + factor) * largest)


@given(problems(), st.booleans())
def test_mlp_meta_gradient_matches_finite_differences_of_the_solved_inner_problem(problem, newton):
    """Where the inner problem has a stationary point, which GD (or, drawn half the time, Newton steps) finds.
    On some draws (about one in seven) a ReLU kink sits at the minimiser: the gradient jumps across zero there,
    GD bounces across it (adapt's
    rule refuses the steps that raise F and creeps closer at ever smaller rates), the gradient never vanishes,
    and the implicit function theorem does not apply; hypothesis discards those (and fails if it must discard
    most)."""
    params, tasks, rng = problem
    reg, inner_lr = well_conditioned(params, tasks, factor=3)
    steps, cg_steps, newton_cg = 50, 20, 0
    if newton:  # the inner problem solved by 5 Newton steps, each by 20 CG steps
        inner_lr, steps, newton_cg = 1.0, 5, 20

    def query_loss_after_solving(theta):  # imaml.adapt is checked against a per-task loop below
        phi = imaml.adapt(theta, tasks.x_support, tasks.y_support, mlp.mse, inner_lr, steps, reg, newton_cg)
        return np.mean(mlp.mse(phi, tasks.x_query, tasks.y_query))

    phi = imaml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, inner_lr, steps, reg, newton_cg)
    inner_grads = imaml.task_grads(phi, tasks.x_support, tasks.y_support, mlp.mse)
    regularised = np.concatenate([(g + reg * (w - p)).reshape(len(w), -1) for g, w, p in zip(inner_grads, phi, params)], axis=1)
    assume(np.max(np.linalg.norm(regularised, axis=1)) <= 1e-10)  # solved: the inner gradient is ~0 for every task

    meta = imaml.meta_gradient(params, tasks, mlp.mse, inner_lr, steps, reg, cg_steps, newton_cg)
    # the minimiser is drawn to ReLU kinks, so theta -> L_q(phi(theta)) may have one within 1e-4 of theta
    # along every direction tried: hence a step smaller than the default
    directional_check(query_loss_after_solving, params, meta, rng, "imaml.meta_gradient (MLP)", h=1e-5)


@given(problems(), st.floats(2, 10), st.integers(0, 3))
def test_meta_gradient_is_the_implicit_formula_with_an_explicit_hessian(problem, factor, steps):
    """CG, given enough steps, applies (I + H_s(phi)/reg)^-1 to grad L_q(phi) as an explicit solve does."""
    params, tasks, _ = problem
    reg, inner_lr = well_conditioned(params, tasks, factor)
    phi = imaml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, inner_lr, steps, reg)
    per_task = []
    for t in range(len(tasks.x_support)):
        w = [p[t] for p in phi]
        H, _ = support_hessians(w, one_task(tasks, t))
        g = flatten(grad(mlp.mse)(w, tasks.x_query[t], tasks.y_query[t]))[0]
        per_task.append(np.linalg.solve(np.eye(len(g)) + H[0] / reg, g))
    meta = flatten(imaml.meta_gradient(params, tasks, mlp.mse, inner_lr, steps, reg, cg_steps=25))[0]
    expected = np.mean(per_task, axis=0)
    assert np.linalg.norm(meta - expected) <= 1e-8 * np.linalg.norm(expected)


@given(st.integers(1, 4), st.lists(st.integers(1, 6), min_size=1, max_size=3), st.integers(0, 2**32 - 1))
def test_cg_reaches_a_zero_residual_in_n_steps(n_tasks, shapes, seed):
    """T symmetric positive definite systems at once, their unknowns split over several arrays."""
    rng = np.random.default_rng(seed)
    n = sum(shapes)
    M = rng.standard_normal((n_tasks, n, n))
    A = np.eye(n) + M @ M.transpose(0, 2, 1) / n  # (T, n, n), eigenvalues >= 1
    split = lambda v: np.split(v, np.cumsum(shapes)[:-1], axis=1)  # (T, n) -> [(T, n_i)]
    matvec = lambda v: split(np.einsum("tij,tj->ti", A, np.concatenate(v, axis=1)))
    b = split(rng.standard_normal((n_tasks, n)))
    u = imaml.cg(matvec, b, steps=n)
    residual = np.concatenate(b, axis=1) - np.einsum("tij,tj->ti", A, np.concatenate(u, axis=1))
    assert np.all(np.linalg.norm(residual, axis=1) <= 1e-10 * np.linalg.norm(np.concatenate(b, axis=1), axis=1))
    # and the residual is not zero before: fewer steps solve less (for n > 1 and random A)
    if n > 1:
        early = np.concatenate(imaml.cg(matvec, b, steps=1), axis=1)
        assert np.all(np.linalg.norm(np.concatenate(b, axis=1) - np.einsum("tij,tj->ti", A, early), axis=1) > 1e-6)


def test_cg_with_a_zero_right_hand_side_stays_at_zero():
    """b = 0 for one task (its query gradient vanishes): no 0 / 0, the solution is 0."""
    b = [np.array([[0.0, 0.0], [1.0, 2.0]])]  # task 0: b = 0; task 1: b = (1, 2)
    u = imaml.cg(lambda v: [2 * v[0]], b, steps=3)
    assert np.array_equal(u[0], np.array([[0.0, 0.0], [0.5, 1.0]]))


def test_cg_run_long_past_convergence_stays_at_the_solution():
    """Steps after CG has converged shrink the residual toward underflow (p^T A p can reach 0 before r^T r
    does): they must leave the solution where it is, not divide by 0. 300 diagonal systems, b of any scale
    (guarded by r^T r == 0 alone, one of them came back nan)."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 5))
        d, b = rng.uniform(0.5, 2, n), rng.standard_normal(n) * 10.0 ** rng.integers(-5, 5)
        with np.errstate(divide="raise", invalid="raise", over="raise"):  # no 0 / 0, x / 0 or overflow on the way
            u = imaml.cg(lambda v: [v[0] * d], [b[None]], int(rng.integers(n, 200)))[0][0]  # n steps solve it
        assert np.allclose(u, b / d, rtol=1e-10, atol=0)


@given(problems(), regs, st.integers(1, 3))
def test_batched_equals_per_task_loop(problem, reg, steps):
    params, tasks, _ = problem
    inner_lr, cg_steps = 0.01, 5
    batched = imaml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, inner_lr, steps, reg)
    looped = adapt_one_task_at_a_time(params, tasks.x_support, tasks.y_support, inner_lr, steps, reg)
    for a, b in zip(batched, looped):
        assert a.shape == b.shape and np.max(np.abs(a - b)) <= 1e-12 * (1 + np.max(np.abs(b)))
    loss, meta = imaml.query_loss_and_meta_gradient(params, tasks, mlp.mse, inner_lr, steps, reg, cg_steps)
    singles = [imaml.query_loss_and_meta_gradient(params, one_task(tasks, t), mlp.mse, inner_lr, steps, reg, cg_steps)
               for t in range(len(tasks.x_support))]
    assert abs(loss - np.mean([s[0] for s in singles])) <= 1e-12 * (1 + loss)
    for m, ss in zip(meta, zip(*[s[1] for s in singles])):
        assert np.max(np.abs(m - np.mean(ss, axis=0))) <= 1e-10 * (1 + np.max(np.abs(m)))
    assert all(np.array_equal(a, b) for a, b in
               zip(meta, imaml.meta_gradient(params, tasks, mlp.mse, inner_lr, steps, reg, cg_steps)))


@given(problems(), st.floats(1.5, 4), st.integers(2, 5))
def test_a_step_that_would_raise_the_objective_is_not_taken_and_halves_the_rate(problem, above, steps):
    """Above plain steps' stability limit 2 / (reg + largest curvature at theta) steps get refused (the draws
    where none is are discarded): no task's F rises from k to k + 1 steps, the batch is the per-task loop, and
    every task has its own rate: a sharper task added to the batch (task 0's points times 10) changes no other."""
    params, tasks, _ = problem
    reg, rate = well_conditioned(params, tasks)  # rate = 1 / (reg + largest curvature)
    inner_lr, (x, y) = above * 2 * rate, tasks[:2]
    fast = [imaml.adapt(params, x, y, mlp.mse, inner_lr, k, reg) for k in range(steps + 1)]
    values = np.array([task_objectives(f, params, x, y, reg) for f in fast])  # (steps + 1, T)
    assert np.all(values[1:] <= values[:-1] + 2e-12 * np.abs(values[:-1]))  # False for nan
    unchanged = [[all(np.array_equal(a[t], b[t]) for a, b in zip(f, g)) for t in range(len(x))]
                 for f, g in zip(fast, fast[1:])]
    assume(np.any(unchanged))  # a step was refused
    looped = adapt_one_task_at_a_time(params, x, y, inner_lr, steps, reg)
    with_sharper = imaml.adapt(params, np.concatenate([x, 10 * x[:1]]), np.concatenate([y, 10 * y[:1]]), mlp.mse,
                               inner_lr, steps, reg)
    for a, b, c in zip(fast[-1], looped, with_sharper):
        assert a.shape == b.shape and np.max(np.abs(a - b)) <= 1e-12 * (1 + np.max(np.abs(b)))
        assert np.max(np.abs(c[:-1] - a)) <= 1e-12 * (1 + np.max(np.abs(a)))


@given(problems(), st.integers(1, 5))
def test_while_every_step_lowers_the_objective_adapt_is_plain_gradient_descent_bit_for_bit(problem, steps):
    """At half the rate 1 / (reg + largest curvature at theta) plain steps lower every task's F, except on
    draws where the curvature grows away from theta (a ReLU switching), which are discarded."""
    params, tasks, _ = problem
    reg, inner_lr = well_conditioned(params, tasks)
    inner_lr, (x, y) = inner_lr / 2, tasks[:2]
    plain = [np.repeat(p[None], len(x), axis=0) for p in params]
    values = [task_objectives(plain, params, x, y, reg)]
    for _ in range(steps):
        grads = imaml.task_grads(plain, x, y, mlp.mse)
        plain = [w - inner_lr * (g + reg * (w - p)) for w, g, p in zip(plain, grads, params)]
        values.append(task_objectives(plain, params, x, y, reg))
    assume(all(np.all(after <= before + 1e-12 * np.abs(before)) for before, after in zip(values, values[1:])))
    assert all(np.array_equal(a, b) for a, b in zip(imaml.adapt(params, x, y, mlp.mse, inner_lr, steps, reg), plain))


@given(problems(max_tasks=2), st.floats(2, 10), st.integers(1, 2))
def test_newton_steps_batched_equal_a_per_task_loop_with_an_explicit_solve(problem, factor, steps):
    """With as many CG steps as unknowns, newton_cg's steps are (reg I + H_F)^-1 grad F, task by task, and
    the meta-gradient after them is the mean of the single tasks' (here I + H/reg is well conditioned)."""
    params, tasks, _ = problem
    reg, _ = well_conditioned(params, tasks, factor)
    n, (x, y) = len(flatten(params)[0]), tasks[:2]
    batched = imaml.adapt(params, x, y, mlp.mse, 1.0, steps, reg, newton_cg=n)
    looped = adapt_one_task_at_a_time(params, x, y, 1.0, steps, reg, newton=True)
    for a, b in zip(batched, looped):
        assert a.shape == b.shape and np.max(np.abs(a - b)) <= 1e-8 * (1 + np.max(np.abs(b)))
    meta = imaml.meta_gradient(params, tasks, mlp.mse, 1.0, steps, reg, 5, newton_cg=n)
    singles = [imaml.meta_gradient(params, one_task(tasks, t), mlp.mse, 1.0, steps, reg, 5, newton_cg=n)
               for t in range(len(x))]
    for m, ss in zip(meta, zip(*singles)):
        assert np.max(np.abs(m - np.mean(ss, axis=0))) <= 1e-10 * (1 + np.max(np.abs(m)))


@given(problems(), regs, st.floats(0.5, 4), st.integers(1, 4), st.integers(1, 4))
def test_newton_steps_never_raise_the_objective_and_each_task_keeps_its_own_rate(problem, reg, inner_lr, newton_cg, steps):
    """Any reg (I + H/reg may be indefinite, CG short), any rate up to 4 (past 2 a Newton step overshoots a
    quadratic): no task's F rises from k to k + 1 steps, and each task in the batch is what it is alone."""
    params, tasks, _ = problem
    x, y = tasks[:2]
    fast = [imaml.adapt(params, x, y, mlp.mse, inner_lr, k, reg, newton_cg) for k in range(steps + 1)]
    values = np.array([task_objectives(f, params, x, y, reg) for f in fast])  # (steps + 1, T)
    assert np.all(values[1:] <= values[:-1] + 2e-12 * np.abs(values[:-1]))  # False for nan
    for t in range(len(x)):
        alone = imaml.adapt(params, x[t:t + 1], y[t:t + 1], mlp.mse, inner_lr, steps, reg, newton_cg)
        for a, b in zip(fast[-1], alone):
            assert np.max(np.abs(a[t] - b[0])) <= 1e-12 * (1 + np.max(np.abs(b)))


def test_the_implicit_correction_is_really_there():
    """On sinusoid tasks the meta-gradient differs from the query gradient at phi (reg = 1: H/reg is not small)."""
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng), sinusoid.sample_tasks(rng, 5, 10, 10)
    meta = flatten(imaml.meta_gradient(params, tasks, mlp.mse, 0.01, 5, 1.0, 5))[0]
    phi = imaml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, 0.01, 5, 1.0)
    at_phi = flatten([g.mean(axis=0) for g in imaml.task_grads(phi, tasks.x_query, tasks.y_query, mlp.mse)])[0]
    assert np.linalg.norm(meta - at_phi) > 0.1 * np.linalg.norm(at_phi)


@pytest.mark.parametrize("kwargs, message", [
    (dict(inner_steps=-1), "inner_steps and newton_cg must be integers >= 0, got -1 and 0"),
    (dict(inner_steps=1.5), "inner_steps and newton_cg must be integers >= 0, got 1.5 and 0"),
    (dict(inner_lr=-0.1), "inner_lr and reg must be > 0, got -0.1 and 1.0"),
    (dict(reg=0.0), "inner_lr and reg must be > 0, got 0.01 and 0.0"),
    (dict(reg=float("nan")), "inner_lr and reg must be > 0, got 0.01 and nan"),
    (dict(cg_steps=0), "cg_steps must be an integer >= 1, got 0"),
    (dict(cg_steps=2.5), "cg_steps must be an integer >= 1, got 2.5"),
    (dict(newton_cg=-1), "inner_steps and newton_cg must be integers >= 0, got 1 and -1"),
    (dict(newton_cg=0.5), "inner_steps and newton_cg must be integers >= 0, got 1 and 0.5"),
])
def test_bad_arguments(kwargs, message):
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 5, 1)), sinusoid.sample_tasks(rng, 3, 4, 6)
    args = dict(inner_lr=0.01, inner_steps=1, reg=1.0, cg_steps=3) | kwargs
    with pytest.raises(ValueError, match=message):
        imaml.meta_gradient(params, tasks, mlp.mse, **args)


def test_mismatched_shapes_are_named_by_the_model():
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 5, 1)), sinusoid.sample_tasks(rng, 3, 4, 6)
    with pytest.raises(ValueError, match=r"got x \(3, 4, 1\) and y \(2, 4, 1\)"):
        imaml.adapt(params, tasks.x_support, tasks.y_support[:2], mlp.mse, 0.01, 1, 1.0)
    with pytest.raises(ValueError, match=r"got x \(3, 6, 1\) and y \(3, 5, 1\)"):
        imaml.meta_gradient(params, tasks._replace(y_query=tasks.y_query[:, :5]), mlp.mse, 0.01, 1, 1.0, 3)
