import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given

from oracles import directional_check
from problems import inner_lrs, inner_steps, problems
from tinymeta import maml, mlp, sinusoid


def adapt_one_task_at_a_time(params, x, y, inner_lr, steps):
    """The inner loop written the slow, obvious way: a Python loop over tasks."""
    out = []
    for xt, yt in zip(x, y):
        w = params
        for _ in range(steps):
            w = [p - inner_lr * g for p, g in zip(w, grad(mlp.mse)(w, xt, yt))]
        out.append(w)
    return [np.stack(ws) for ws in zip(*out)]  # (T,) + p.shape


@given(problems(), inner_lrs, inner_steps)
def test_second_order_meta_gradient_matches_finite_differences(problem, inner_lr, steps):
    params, tasks, rng = problem
    f = lambda p: maml.meta_loss(p, tasks, mlp.mse, inner_lr, steps)
    directional_check(f, params, grad(f)(params), rng, "maml.meta_loss (second order)")


@given(problems(), inner_lrs, inner_steps)
def test_first_order_is_query_gradient_at_adapted_weights(problem, inner_lr, steps):
    params, tasks, rng = problem
    fo = grad(maml.meta_loss)(params, tasks, mlp.mse, inner_lr, steps, first_order=True)
    fast = adapt_one_task_at_a_time(params, tasks.x_support, tasks.y_support, inner_lr, steps)
    at_fast = grad(lambda w: anp.mean(mlp.mse(w, tasks.x_query, tasks.y_query)))(fast)  # (T,) + p.shape
    for g, h in zip(fo, at_fast):
        assert np.allclose(g, h.sum(axis=0), rtol=1e-10, atol=1e-12)


@given(problems(), inner_lrs)
def test_without_inner_steps_first_order_is_exact(problem, inner_lr):
    params, tasks, _ = problem
    exact0 = grad(maml.meta_loss)(params, tasks, mlp.mse, inner_lr, 0)
    first0 = grad(maml.meta_loss)(params, tasks, mlp.mse, inner_lr, 0, first_order=True)
    assert all(np.array_equal(a, b) for a, b in zip(exact0, first0))


@given(problems(), inner_lrs, inner_steps)
def test_batched_inner_loop_equals_per_task_loop(problem, inner_lr, steps):
    params, tasks, _ = problem
    batched = maml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, inner_lr, steps)
    looped = adapt_one_task_at_a_time(params, tasks.x_support, tasks.y_support, inner_lr, steps)
    for a, b in zip(batched, looped):
        assert a.shape == b.shape and np.max(np.abs(a - b)) <= 1e-12 * (1 + np.max(np.abs(b)))
    loss = np.mean([mlp.mse([w[t] for w in looped], tasks.x_query[t], tasks.y_query[t])
                    for t in range(len(tasks.x_query))])
    assert abs(maml.meta_loss(params, tasks, mlp.mse, inner_lr, steps) - loss) <= 1e-12 * (1 + loss)


def test_second_order_term_is_really_there():
    """On sinusoid tasks the exact and first-order meta-gradients differ (the Hessian term)."""
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng), sinusoid.sample_tasks(rng, 5, 10, 10)
    exact, first = (grad(maml.meta_loss)(params, tasks, mlp.mse, first_order=fo) for fo in (False, True))
    assert max(np.max(np.abs(a - b)) for a, b in zip(exact, first)) > 1e-3


def test_gradcheck_rejects_the_first_order_gradient_as_the_exact_one():
    """The finite-difference check can fail: it catches the missing Hessian term."""
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng), sinusoid.sample_tasks(rng, 5, 10, 10)
    f = lambda p: maml.meta_loss(p, tasks, mlp.mse)
    wrong = grad(maml.meta_loss)(params, tasks, mlp.mse, first_order=True)
    with pytest.raises(AssertionError, match="analytic"):
        directional_check(f, params, wrong, rng, "deliberately wrong")


def test_zero_steps_is_the_query_loss_at_theta():
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 5, 1)), sinusoid.sample_tasks(rng, 3, 4, 6)
    assert maml.meta_loss(params, tasks, mlp.mse, inner_steps=0) == np.mean(mlp.mse(params, tasks.x_query, tasks.y_query))


@pytest.mark.parametrize("kwargs, message", [
    (dict(inner_steps=-1), "inner_lr must be > 0 and inner_steps an integer >= 0, got 0.01 and -1"),
    (dict(inner_steps=1.5), "inner_lr must be > 0 and inner_steps an integer >= 0, got 0.01 and 1.5"),
    (dict(inner_lr=-0.1), "inner_lr must be > 0 and inner_steps an integer >= 0, got -0.1 and 1"),
    (dict(inner_lr=0.0), "inner_lr must be > 0 and inner_steps an integer >= 0, got 0.0 and 1"),
])
def test_bad_arguments(kwargs, message):
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 5, 1)), sinusoid.sample_tasks(rng, 3, 4, 6)
    with pytest.raises(ValueError, match=message):
        maml.meta_loss(params, tasks, mlp.mse, **kwargs)


def test_mismatched_shapes_are_named_by_the_model():
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 5, 1)), sinusoid.sample_tasks(rng, 3, 4, 6)
    with pytest.raises(ValueError, match=r"got x \(3, 4, 1\) and y \(2, 4, 1\)"):
        maml.adapt(params, tasks.x_support, tasks.y_support[:2], mlp.mse, 0.01, 1)
    with pytest.raises(ValueError, match=r"got x \(3, 6, 1\) and y \(3, 5, 1\)"):
        maml.meta_loss(params, tasks._replace(y_query=tasks.y_query[:, :5]), mlp.mse)
    with pytest.raises(ValueError, match=r"got x \(3, 4, 2\)"):
        maml.meta_loss(params, tasks._replace(x_support=np.zeros((3, 4, 2))), mlp.mse)


def test_data_as_lists():
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 4, 1)), sinusoid.sample_tasks(rng, 3, 5, 5)
    listed = maml.adapt(params, tasks.x_support.tolist(), tasks.y_support.tolist(), mlp.mse, 0.01, 2)
    assert all(np.array_equal(a, b) for a, b in zip(listed, maml.adapt(params, tasks.x_support, tasks.y_support,
                                                                       mlp.mse, 0.01, 2)))
