import numpy as np
import pytest
from autograd import grad
from hypothesis import given

import oracles
from oracles import directional_check
from problems import inner_lrs, inner_steps, problems
from tinymeta import maml, metacurvature, mlp, sinusoid

# The learned rates and matrices multiply the inner gradient, which can be large: along them the meta-loss
# bends sharply, so a step smaller than gradcheck's default keeps the O(h^2) error below its tolerance.
H = 1e-5


def random_meta(params, rng):
    return {"params": params, "curvature": oracles.curvature(rng, params)}


def update(curvature, inner_lr):
    """One task's step, with the curvature applied in its Kronecker form (M_out^T kron M_in) vec G."""
    def transform(c, g):
        return oracles.kron_transform(c, g) if g.ndim == 2 else c * g
    return lambda w, g, s: [p - inner_lr * transform(c, gi) for p, c, gi in zip(w, curvature, g)]


@given(problems(), inner_lrs, inner_steps)
def test_meta_gradient_matches_finite_differences(problem, inner_lr, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng)
    f = lambda m: metacurvature.meta_loss(m, tasks, mlp.mse, inner_lr, steps)
    directional_check(f, meta, grad(f)(meta), rng, "metacurvature.meta_loss (params, curv.)", h=H)


@given(problems(), inner_lrs, inner_steps)
def test_at_init_it_is_maml(problem, inner_lr, steps):
    params, tasks, _ = problem
    meta = metacurvature.init(params)
    expected = maml.meta_loss(params, tasks, mlp.mse, inner_lr, steps)
    got = metacurvature.meta_loss(meta, tasks, mlp.mse, inner_lr, steps)
    assert abs(got - expected) <= 1e-12 * (1 + expected)
    oracles.assert_close(grad(metacurvature.meta_loss)(meta, tasks, mlp.mse, inner_lr, steps)["params"],
                         grad(maml.meta_loss)(params, tasks, mlp.mse, inner_lr, steps))


@given(problems())
def test_batched_transform_equals_kronecker_form_task_by_task(problem):
    params, tasks, rng = problem
    curvature = oracles.curvature(rng, params)
    grads = [rng.standard_normal((len(tasks.x_support),) + p.shape) for p in params]  # (T,) + p.shape
    for c, g, d in zip(curvature, grads, metacurvature.transform(curvature, grads)):
        for t in range(len(g)):
            expected = oracles.kron_transform(c, g[t]) if g.ndim == 3 else c * g[t]
            assert np.allclose(d[t], expected, rtol=1e-12, atol=1e-14)


@given(problems(), inner_lrs, inner_steps)
def test_batched_inner_loop_equals_per_task_loop(problem, inner_lr, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng)
    x, y = tasks.x_support, tasks.y_support
    looped = oracles.trajectory(params, x, y, update(meta["curvature"], inner_lr), steps)[-1]
    oracles.assert_close(metacurvature.adapt(meta, x, y, mlp.mse, inner_lr, steps), looped)
    expected = oracles.query_loss(looped, tasks)
    got = metacurvature.meta_loss(meta, tasks, mlp.mse, inner_lr, steps)
    assert abs(got - expected) <= 1e-12 * (1 + expected)


@given(problems(), inner_lrs, inner_steps)
def test_first_order_is_query_gradient_at_adapted_weights(problem, inner_lr, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng)
    fo = grad(metacurvature.meta_loss)(meta, tasks, mlp.mse, inner_lr, steps, first_order=True)["params"]
    x, y = tasks.x_support, tasks.y_support
    looped = oracles.trajectory(params, x, y, update(meta["curvature"], inner_lr), steps)[-1]
    oracles.assert_close(fo, oracles.query_gradient(looped, tasks), tol=1e-10)


def test_init_is_identity_pairs_and_ones():
    params = mlp.init(np.random.default_rng(0), (2, 3, 1))
    curvature = metacurvature.init(params)["curvature"]
    assert [np.shape(m) for m in curvature[0]] == [(2, 2), (3, 3)]
    assert np.array_equal(curvature[0][0], np.eye(2)) and np.array_equal(curvature[0][1], np.eye(3))
    assert np.array_equal(curvature[1], np.ones(3)) and np.array_equal(curvature[2][1], np.eye(1))


def test_every_curvature_entry_gets_a_meta_gradient():
    rng = np.random.default_rng(0)
    meta, tasks = metacurvature.init(mlp.init(rng, (1, 5, 1))), sinusoid.sample_tasks(rng, 3, 4, 6)
    g = grad(metacurvature.meta_loss)(meta, tasks, mlp.mse)["curvature"]
    assert np.any(g[0][1] != 0) and np.any(g[1] != 0) and np.any(g[2][0] != 0) and np.any(g[3] != 0)


def test_bad_arguments():
    rng = np.random.default_rng(0)
    meta, tasks = metacurvature.init(mlp.init(rng, (1, 5, 1))), sinusoid.sample_tasks(rng, 3, 4, 6)
    with pytest.raises(ValueError, match="inner_lr must be > 0 and inner_steps an integer >= 0, got -0.1 and 1"):
        metacurvature.meta_loss(meta, tasks, mlp.mse, inner_lr=-0.1)
    with pytest.raises(ValueError, match="inner_lr must be > 0 and inner_steps an integer >= 0, got 0.01 and -2"):
        metacurvature.meta_loss(meta, tasks, mlp.mse, inner_steps=-2)
    with pytest.raises(ValueError, match=r"meta must have the keys 'params' and 'curvature', got \['lr', 'params'\]"):
        metacurvature.meta_loss({"params": meta["params"], "lr": 0.1}, tasks, mlp.mse)
