import numpy as np
import pytest
from autograd import grad
from hypothesis import given

import oracles
from oracles import directional_check
from problems import inner_lrs, inner_steps, problems
from tinymeta import anil, maml, mlp, sinusoid


def update(inner_lr):
    """One task's step on the head only: the body is copied unchanged."""
    return lambda w, g, s: w[:-2] + [p - inner_lr * gi for p, gi in zip(w[-2:], g[-2:])]


@given(problems(), inner_lrs, inner_steps)
def test_meta_gradient_matches_finite_differences(problem, inner_lr, steps):
    params, tasks, rng = problem
    f = lambda p: anil.meta_loss(p, tasks, mlp.mse, inner_lr, steps)
    directional_check(f, params, grad(f)(params), rng, "anil.meta_loss (second order)")


@given(problems(), inner_lrs, inner_steps)
def test_inner_loop_leaves_the_body_unchanged(problem, inner_lr, steps):
    params, tasks, _ = problem
    fast = anil.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, inner_lr, steps)
    for p, w in zip(params[:-2], fast[:-2]):
        assert w.shape == (len(tasks.x_support),) + p.shape and np.all(w == p)
    assert any(np.any(w != p) for p, w in zip(params[-2:], fast[-2:]))


def test_the_body_is_still_meta_learned():
    """On sinusoid tasks the meta-gradient reaches every body array, and it is not MAML's."""
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng), sinusoid.sample_tasks(rng, 5, 10, 10)
    ours, theirs = grad(anil.meta_loss)(params, tasks, mlp.mse), grad(maml.meta_loss)(params, tasks, mlp.mse)
    assert all(np.max(np.abs(g)) > 1e-3 for g in ours[:-2])
    assert all(np.max(np.abs(a - b)) > 1e-6 for a, b in zip(ours[:-2], theirs[:-2]))


@given(problems(), inner_lrs, inner_steps)
def test_batched_inner_loop_equals_per_task_loop(problem, inner_lr, steps):
    params, tasks, _ = problem
    looped = oracles.trajectory(params, tasks.x_support, tasks.y_support, update(inner_lr), steps)[-1]
    oracles.assert_close(anil.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, inner_lr, steps), looped)
    expected = oracles.query_loss(looped, tasks)
    assert abs(anil.meta_loss(params, tasks, mlp.mse, inner_lr, steps) - expected) <= 1e-12 * (1 + expected)


@given(problems(), inner_lrs, inner_steps)
def test_first_order_is_query_gradient_at_adapted_weights(problem, inner_lr, steps):
    params, tasks, _ = problem
    fo = grad(anil.meta_loss)(params, tasks, mlp.mse, inner_lr, steps, first_order=True)
    looped = oracles.trajectory(params, tasks.x_support, tasks.y_support, update(inner_lr), steps)[-1]
    oracles.assert_close(fo, oracles.query_gradient(looped, tasks), tol=1e-10)


@given(problems(), inner_lrs, inner_steps)
def test_a_network_that_is_all_head_is_maml(problem, inner_lr, steps):
    params, tasks, _ = problem
    head = params[-2:]
    tasks = tasks._replace(x_support=tasks.x_support[..., :1] @ np.ones((1, head[0].shape[0])),
                           x_query=tasks.x_query[..., :1] @ np.ones((1, head[0].shape[0])))
    expected = maml.meta_loss(head, tasks, mlp.mse, inner_lr, steps)
    assert anil.meta_loss(head, tasks, mlp.mse, inner_lr, steps) == expected
    oracles.assert_close(grad(anil.meta_loss)(head, tasks, mlp.mse, inner_lr, steps),
                         grad(maml.meta_loss)(head, tasks, mlp.mse, inner_lr, steps))


def test_init_copies_the_parameters():
    params = mlp.init(np.random.default_rng(0), (1, 5, 1))
    meta = anil.init(params)
    assert all(m is not p and np.array_equal(m, p) for m, p in zip(meta, params))


@pytest.mark.parametrize("kwargs, message", [
    (dict(inner_lr=0.0), "inner_lr must be > 0 and inner_steps an integer >= 0, got 0.0 and 1"),
    (dict(inner_steps=-1), "inner_lr must be > 0 and inner_steps an integer >= 0, got 0.01 and -1"),
])
def test_bad_arguments(kwargs, message):
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 5, 1)), sinusoid.sample_tasks(rng, 3, 4, 6)
    with pytest.raises(ValueError, match=message):
        anil.meta_loss(params, tasks, mlp.mse, **kwargs)
