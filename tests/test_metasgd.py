import numpy as np
import pytest
from autograd import grad
from hypothesis import given
from hypothesis import strategies as st

import oracles
from oracles import directional_check
from problems import inner_lrs, inner_steps, problems
from tinymeta import maml, metasgd, mlp, sinusoid

# The learned rates and matrices multiply the inner gradient, which can be large: along them the meta-loss
# bends sharply, so a step smaller than gradcheck's default keeps the O(h^2) error below its tolerance.
H = 1e-5


def random_meta(params, rng):
    return {"params": params, "lr": [oracles.rates(rng, p.shape) for p in params]}


def update(lr):
    return lambda w, g, s: [p - a * gi for p, a, gi in zip(w, lr, g)]


@given(problems(), inner_steps)
def test_meta_gradient_matches_finite_differences(problem, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng)
    f = lambda m: metasgd.meta_loss(m, tasks, mlp.mse, steps)
    directional_check(f, meta, grad(f)(meta), rng, "metasgd.meta_loss (params, lr)", h=H)


@given(problems(), inner_lrs, inner_steps)
def test_at_init_it_is_maml(problem, inner_lr, steps):
    params, tasks, _ = problem
    meta = metasgd.init(params, inner_lr)
    expected = maml.meta_loss(params, tasks, mlp.mse, inner_lr, steps)
    assert abs(metasgd.meta_loss(meta, tasks, mlp.mse, steps) - expected) <= 1e-12 * (1 + expected)
    oracles.assert_close(grad(metasgd.meta_loss)(meta, tasks, mlp.mse, steps)["params"],
                         grad(maml.meta_loss)(params, tasks, mlp.mse, inner_lr, steps))


@given(problems(), st.integers(0, 4))
def test_batched_inner_loop_equals_per_task_loop(problem, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng)
    looped = oracles.trajectory(params, tasks.x_support, tasks.y_support, update(meta["lr"]), steps)[-1]
    oracles.assert_close(metasgd.adapt(meta, tasks.x_support, tasks.y_support, mlp.mse, steps), looped)
    expected = oracles.query_loss(looped, tasks)
    assert abs(metasgd.meta_loss(meta, tasks, mlp.mse, steps) - expected) <= 1e-12 * (1 + expected)


@given(problems(), inner_steps)
def test_first_order_is_query_gradient_at_adapted_weights(problem, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng)
    fo = grad(metasgd.meta_loss)(meta, tasks, mlp.mse, steps, first_order=True)["params"]
    looped = oracles.trajectory(params, tasks.x_support, tasks.y_support, update(meta["lr"]), steps)[-1]
    oracles.assert_close(fo, oracles.query_gradient(looped, tasks), tol=1e-10)


def test_learned_rates_change_the_meta_gradient():
    """The rates are really used: the meta-gradient w.r.t. them is non-zero."""
    rng = np.random.default_rng(0)
    meta, tasks = metasgd.init(mlp.init(rng, (1, 5, 1))), sinusoid.sample_tasks(rng, 3, 4, 6)
    assert all(np.any(g != 0) for g in grad(metasgd.meta_loss)(meta, tasks, mlp.mse)["lr"])


@pytest.mark.parametrize("change, inner_steps, message", [
    (lambda m: m.pop("lr"), 1, r"keys 'params' and 'lr' and inner_steps be an integer >= 0, got \['params'\] and 1"),
    (lambda m: m.update(curvature=[]), 1, r"got \['curvature', 'lr', 'params'\] and 1"),
    (lambda m: None, -1, r"got \['lr', 'params'\] and -1"),
    (lambda m: None, 0.5, r"got \['lr', 'params'\] and 0.5"),
])
def test_bad_arguments(change, inner_steps, message):
    rng = np.random.default_rng(0)
    meta, tasks = metasgd.init(mlp.init(rng, (1, 5, 1))), sinusoid.sample_tasks(rng, 3, 4, 6)
    change(meta)
    with pytest.raises(ValueError, match=message):
        metasgd.meta_loss(meta, tasks, mlp.mse, inner_steps)
    with pytest.raises(ValueError, match=message):
        metasgd.adapt(meta, tasks.x_support, tasks.y_support, mlp.mse, inner_steps)
