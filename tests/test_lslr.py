import numpy as np
import pytest
from autograd import grad
from hypothesis import given
from hypothesis import strategies as st

import oracles
from oracles import directional_check
from problems import inner_lrs, inner_steps, problems
from tinymeta import lslr, maml, metasgd, mlp, sinusoid

# The learned rates and matrices multiply the inner gradient, which can be large: along them the meta-loss
# bends sharply, so a step smaller than gradcheck's default keeps the O(h^2) error below its tolerance.
H = 1e-5


def random_meta(params, rng, steps):
    return {"params": params, "lr": oracles.rates(rng, (steps, len(params)))}


def update(lr):
    """Step s uses row s of the rates, or the last row once past the trained steps."""
    return lambda w, g, s: [p - lr[min(s, len(lr) - 1)][i] * gi for i, (p, gi) in enumerate(zip(w, g))]


@given(problems(), inner_steps)
def test_meta_gradient_matches_finite_differences(problem, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng, steps)
    f = lambda m: lslr.meta_loss(m, tasks, mlp.mse)
    directional_check(f, meta, grad(f)(meta), rng, "lslr.meta_loss (params, lr)", h=H)


@given(problems(), inner_lrs, inner_steps)
def test_at_init_it_is_maml(problem, inner_lr, steps):
    params, tasks, _ = problem
    meta = lslr.init(params, steps, inner_lr)
    expected = maml.meta_loss(params, tasks, mlp.mse, inner_lr, steps)
    assert abs(lslr.meta_loss(meta, tasks, mlp.mse) - expected) <= 1e-12 * (1 + expected)
    oracles.assert_close(grad(lslr.meta_loss)(meta, tasks, mlp.mse)["params"],
                         grad(maml.meta_loss)(params, tasks, mlp.mse, inner_lr, steps))


@given(problems(), inner_steps, st.integers(0, 5))
def test_batched_inner_loop_equals_per_task_loop_also_past_the_trained_steps(problem, trained, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng, trained)
    most = max(trained, steps)
    looped = oracles.trajectory(params, tasks.x_support, tasks.y_support, update(meta["lr"]), most)
    oracles.assert_close(lslr.adapt(meta, tasks.x_support, tasks.y_support, mlp.mse, steps), looped[steps])
    expected = oracles.query_loss(looped[trained], tasks)
    assert abs(lslr.meta_loss(meta, tasks, mlp.mse) - expected) <= 1e-12 * (1 + expected)


@given(problems(), inner_steps)
def test_first_order_is_query_gradient_at_adapted_weights(problem, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng, steps)
    fo = grad(lslr.meta_loss)(meta, tasks, mlp.mse, first_order=True)["params"]
    looped = oracles.trajectory(params, tasks.x_support, tasks.y_support, update(meta["lr"]), steps)[-1]
    oracles.assert_close(fo, oracles.query_gradient(looped, tasks), tol=1e-10)


@given(problems())
def test_one_step_is_meta_sgd_with_one_rate_per_array(problem):
    params, tasks, rng = problem
    meta = random_meta(params, rng, 1)
    sgd = {"params": params, "lr": [np.full(p.shape, a) for p, a in zip(params, meta["lr"][0])]}
    assert abs(lslr.meta_loss(meta, tasks, mlp.mse) - metasgd.meta_loss(sgd, tasks, mlp.mse, 1)) <= 1e-12


def test_every_rate_gets_a_meta_gradient():
    rng = np.random.default_rng(0)
    meta, tasks = lslr.init(mlp.init(rng, (1, 5, 1)), inner_steps=3), sinusoid.sample_tasks(rng, 3, 4, 6)
    assert np.all(grad(lslr.meta_loss)(meta, tasks, mlp.mse)["lr"] != 0)


def test_bad_arguments():
    rng = np.random.default_rng(0)
    meta, tasks = lslr.init(mlp.init(rng, (1, 5, 1)), 2), sinusoid.sample_tasks(rng, 3, 4, 6)
    with pytest.raises(ValueError, match=r"keys 'params' and 'lr' and inner_steps be an integer >= 0, "
                                         r"got \['curvature', 'lr', 'params'\] and 2"):
        lslr.meta_loss(dict(meta, curvature=None), tasks, mlp.mse)
    with pytest.raises(ValueError, match=r"got \['lr', 'params'\] and -1"):
        lslr.adapt(meta, tasks.x_support, tasks.y_support, mlp.mse, -1)
    with pytest.raises(ValueError, match="inner_steps must be an integer >= 1, got 0"):
        lslr.init(meta["params"], inner_steps=0)
