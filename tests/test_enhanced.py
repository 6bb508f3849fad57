import numpy as np
import pytest
from autograd import grad
from hypothesis import given
from hypothesis import strategies as st

import oracles
from oracles import directional_check
from problems import inner_lrs, inner_steps, problems
from tinymeta import enhanced, lslr, maml, metacurvature, mlp, sinusoid

# The learned rates and matrices multiply the inner gradient, which can be large: along them the meta-loss
# bends sharply, so a step smaller than gradcheck's default keeps the O(h^2) error below its tolerance.
H = 1e-5


def random_meta(params, rng, steps):
    return {"params": params, "lr": oracles.rates(rng, (steps, len(params))),
            "curvature": oracles.curvature(rng, params)}


def update(meta):
    """One task's step s: rates lr[s] (the last row past the trained steps), curvature in Kronecker form."""
    lr, curvature = meta["lr"], meta["curvature"]

    def transform(c, g):
        return oracles.kron_transform(c, g) if g.ndim == 2 else c * g
    return lambda w, g, s: [p - lr[min(s, len(lr) - 1)][i] * transform(c, gi)
                            for i, (p, c, gi) in enumerate(zip(w, curvature, g))]


@given(problems(), inner_steps, st.booleans())
def test_meta_gradient_matches_finite_differences(problem, steps, multi_step):
    params, tasks, rng = problem
    meta = random_meta(params, rng, steps)
    weights = rng.dirichlet(np.ones(steps)) if multi_step else None
    f = lambda m: enhanced.meta_loss(m, tasks, mlp.mse, weights)
    name = "enhanced.meta_loss (multi-step)" if multi_step else "enhanced.meta_loss (final step)"
    directional_check(f, meta, grad(f)(meta), rng, name, h=H)


@given(problems(), inner_lrs, inner_steps)
def test_at_init_it_is_maml(problem, inner_lr, steps):
    params, tasks, _ = problem
    meta = enhanced.init(params, steps, inner_lr)
    expected = maml.meta_loss(params, tasks, mlp.mse, inner_lr, steps)
    assert abs(enhanced.meta_loss(meta, tasks, mlp.mse) - expected) <= 1e-12 * (1 + expected)
    oracles.assert_close(grad(enhanced.meta_loss)(meta, tasks, mlp.mse)["params"],
                         grad(maml.meta_loss)(params, tasks, mlp.mse, inner_lr, steps))


@given(problems(), inner_steps)
def test_multi_step_loss_equals_its_definition(problem, steps):
    params, tasks, rng = problem
    meta, weights = random_meta(params, rng, steps), rng.uniform(0, 1, steps)
    looped = oracles.trajectory(params, tasks.x_support, tasks.y_support, update(meta), steps)
    expected = sum(weights[s] * oracles.query_loss(looped[s + 1], tasks) for s in range(steps))
    assert abs(enhanced.meta_loss(meta, tasks, mlp.mse, weights) - expected) <= 1e-12 * (1 + expected)
    one_hot = np.eye(steps)[-1]
    assert enhanced.meta_loss(meta, tasks, mlp.mse, one_hot) == enhanced.meta_loss(meta, tasks, mlp.mse)


@given(problems(), inner_steps, st.integers(0, 5))
def test_batched_inner_loop_equals_per_task_loop_also_past_the_trained_steps(problem, trained, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng, trained)
    looped = oracles.trajectory(params, tasks.x_support, tasks.y_support, update(meta), max(trained, steps))
    oracles.assert_close(enhanced.adapt(meta, tasks.x_support, tasks.y_support, mlp.mse, steps), looped[steps])
    expected = oracles.query_loss(looped[trained], tasks)
    assert abs(enhanced.meta_loss(meta, tasks, mlp.mse) - expected) <= 1e-12 * (1 + expected)


@given(problems(), inner_steps, st.booleans())
def test_first_order_is_query_gradient_at_adapted_weights(problem, steps, multi_step):
    params, tasks, rng = problem
    meta = random_meta(params, rng, steps)
    weights = rng.dirichlet(np.ones(steps)) if multi_step else np.eye(steps)[-1]
    fo = grad(enhanced.meta_loss)(meta, tasks, mlp.mse, weights, first_order=True)["params"]
    looped = oracles.trajectory(params, tasks.x_support, tasks.y_support, update(meta), steps)
    expected = [sum(w * g for w, g in zip(weights, gs))
                for gs in zip(*(oracles.query_gradient(looped[s + 1], tasks) for s in range(steps)))]
    oracles.assert_close(fo, expected, tol=1e-10)


@given(problems(), inner_steps)
def test_identity_curvature_is_lslr_and_constant_rates_are_meta_curvature(problem, steps):
    params, tasks, rng = problem
    meta = random_meta(params, rng, steps)
    as_lslr = dict(meta, curvature=metacurvature.init(params)["curvature"])
    expected = lslr.meta_loss({"params": params, "lr": meta["lr"]}, tasks, mlp.mse)
    assert abs(enhanced.meta_loss(as_lslr, tasks, mlp.mse) - expected) <= 1e-12 * (1 + expected)
    as_mc = dict(meta, lr=np.full(meta["lr"].shape, 0.03))
    mc = {"params": params, "curvature": meta["curvature"]}
    expected = metacurvature.meta_loss(mc, tasks, mlp.mse, 0.03, steps)
    assert abs(enhanced.meta_loss(as_mc, tasks, mlp.mse) - expected) <= 1e-12 * (1 + expected)


@given(st.integers(1, 6), st.integers(1, 50), st.integers(0, 60))
def test_msl_weights_anneal_from_uniform_to_the_last_step(steps, anneal, iteration):
    w = enhanced.msl_weights(steps, iteration, anneal)
    before = enhanced.msl_weights(steps, max(iteration - 1, 0), anneal)
    assert w.shape == (steps,) and abs(np.sum(w) - 1) <= 1e-12 and np.all(w >= 0)
    assert np.allclose(enhanced.msl_weights(steps, 0, anneal), 1 / steps, rtol=1e-12)
    if iteration >= anneal:  # annealing done: the final-step loss
        assert np.array_equal(w, np.eye(steps)[-1])
    else:  # the early steps decay together, never below the floor, and the last step takes the rest
        assert np.all(w[:-1] == w[0]) and np.all(w[:-1] >= 0.03 / steps) and w[-1] >= 1 / steps - 1e-15
        assert np.all(w[:-1] <= before[:-1]) and w[-1] >= before[-1] - 1e-15
        if 1 / steps - iteration / (steps * anneal) > 0.03 / steps:  # still on the linear part
            assert np.allclose(w[:-1], (1 - iteration / anneal) / steps, rtol=1e-12)


def test_msl_weights_at_the_floor():
    """Near the end of the annealing the early weights stop at the floor 0.03 / S of the authors' code
    (MAML++, `min_value_for_non_final_losses = 0.03 / number_of_training_steps_per_iter`), not at 0.03."""
    assert np.allclose(enhanced.msl_weights(2, 99, 100), [0.015, 0.985], rtol=1e-12)  # 1/2 - 99/200 = 0.005 < 0.015
    assert np.allclose(enhanced.msl_weights(3, 99, 100), [0.01, 0.01, 0.98], rtol=1e-12)
    assert np.allclose(enhanced.msl_weights(2, 50, 100), [0.25, 0.75], rtol=1e-12)  # still on the linear part


@pytest.mark.parametrize("args, message", [
    ((0, 0, 10), "inner_steps must be an integer >= 1, iteration and anneal_iterations >= 0, got 0, 0 and 10"),
    ((3, -1, 10), "got 3, -1 and 10"),
    ((3, 0, -1), "got 3, 0 and -1"),
])
def test_msl_weights_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        enhanced.msl_weights(*args)


def test_bad_arguments():
    rng = np.random.default_rng(0)
    meta, tasks = enhanced.init(mlp.init(rng, (1, 5, 1)), 2), sinusoid.sample_tasks(rng, 3, 4, 6)
    with pytest.raises(ValueError, match=r"meta must have the keys 'params', 'lr' and 'curvature' and inner_steps be "
                                         r"an integer >= 0, got \['lr', 'params'\] and 2"):
        enhanced.meta_loss({"params": meta["params"], "lr": meta["lr"]}, tasks, mlp.mse)
    with pytest.raises(ValueError, match=r"got \['curvature', 'lr', 'params'\] and -1"):
        enhanced.adapt(meta, tasks.x_support, tasks.y_support, mlp.mse, -1)
    with pytest.raises(ValueError, match="inner_steps must be an integer >= 1, got 0"):
        enhanced.init(meta["params"], inner_steps=0)
