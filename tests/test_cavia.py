"""CAVIA: the meta-gradient against central differences, first order, no context, batched against a loop."""
import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given, strategies as st

from oracles import directional_check
from problems import inner_steps, problems
from tinymeta import cavia, mlp, sinusoid

n_contexts = st.integers(1, 3)
inner_lrs = st.floats(0.01, 1.0)  # contexts take large steps: the authors' sinusoid rate is 1.0


def with_context_inputs(params, n_context, rng):
    """The problem's network with n_context more inputs: random rows appended to the first weight matrix."""
    W1 = params[0]
    return [np.vstack([W1, rng.standard_normal((n_context, W1.shape[1]))])] + params[1:]


def contexts_one_task_at_a_time(params, x, y, n_context, inner_lr, steps):
    """The inner loop written the slow, obvious way: per task, SGD on a context vector (n_context,)."""
    out = []
    for xt, yt in zip(x, y):
        context_loss = lambda c: mlp.mse(params, anp.concatenate([xt, anp.tile(c, (len(xt), 1))], axis=1), yt)
        c = np.zeros(n_context)
        for _ in range(steps):
            c = c - inner_lr * grad(context_loss)(c)
        out.append(c)
    return np.array(out)  # (T, n_context)


def query_loss_one_task_at_a_time(params, tasks, contexts):
    """Mean over tasks of the query loss with each task's context (n_context,), one task at a time."""
    return anp.mean(anp.array([mlp.mse(params, np.concatenate([x, np.tile(c, (len(x), 1))], axis=1), y)
                               for x, y, c in zip(tasks.x_query, tasks.y_query, contexts)]))


@given(problems(), n_contexts, inner_lrs, inner_steps)
def test_second_order_meta_gradient_matches_finite_differences(problem, n_context, inner_lr, steps):
    params, tasks, rng = problem
    params = with_context_inputs(params, n_context, rng)
    f = lambda p: cavia.meta_loss(p, tasks, mlp.mse, n_context, inner_lr, steps)
    directional_check(f, params, grad(f)(params), rng, "cavia.meta_loss (second order)")


@given(problems(), n_contexts, inner_lrs, inner_steps)
def test_first_order_is_the_query_gradient_at_the_adapted_contexts_held_fixed(problem, n_context, inner_lr, steps):
    params, tasks, rng = problem
    params = with_context_inputs(params, n_context, rng)
    first = grad(cavia.meta_loss)(params, tasks, mlp.mse, n_context, inner_lr, steps, first_order=True)
    contexts = contexts_one_task_at_a_time(params, tasks.x_support, tasks.y_support, n_context, inner_lr, steps)
    held_fixed = grad(query_loss_one_task_at_a_time)(params, tasks, contexts)
    for a, b in zip(first, held_fixed):
        assert np.allclose(a, b, rtol=1e-10, atol=1e-12)


@given(problems(), inner_lrs, inner_steps)
def test_without_context_nothing_adapts(problem, inner_lr, steps):
    params, tasks, _ = problem
    assert cavia.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, 0, inner_lr, steps).shape == (len(tasks.x_support), 0)
    plain = lambda p: anp.mean(mlp.mse(p, tasks.x_query, tasks.y_query))
    assert cavia.meta_loss(params, tasks, mlp.mse, 0, inner_lr, steps) == plain(params)
    for a, b in zip(grad(cavia.meta_loss)(params, tasks, mlp.mse, 0, inner_lr, steps), grad(plain)(params)):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


@given(problems(), n_contexts, inner_lrs, inner_steps)
def test_batched_inner_loop_equals_per_task_loop(problem, n_context, inner_lr, steps):
    params, tasks, rng = problem
    params = with_context_inputs(params, n_context, rng)
    batched = cavia.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, n_context, inner_lr, steps)
    looped = contexts_one_task_at_a_time(params, tasks.x_support, tasks.y_support, n_context, inner_lr, steps)
    assert batched.shape == looped.shape and np.max(np.abs(batched - looped)) <= 1e-12 * (1 + np.max(np.abs(looped)))
    loss = query_loss_one_task_at_a_time(params, tasks, looped)
    assert abs(cavia.meta_loss(params, tasks, mlp.mse, n_context, inner_lr, steps) - loss) <= 1e-12 * (1 + loss)


def test_with_context_appends_each_tasks_context_to_each_of_its_inputs():
    x = np.arange(12.0).reshape(2, 3, 2)  # T = 2 tasks, K = 3 points, n_in = 2
    contexts = np.array([[10.0], [20.0]])  # (T, n_context = 1)
    assert np.array_equal(cavia.with_context(x, contexts)[1], [[6, 7, 20], [8, 9, 20], [10, 11, 20]])
    assert cavia.with_context(x, np.zeros((2, 0))).shape == (2, 3, 2)


def test_second_order_term_is_really_there():
    """On sinusoid tasks at the authors' rate 1.0 the exact and first-order meta-gradients differ."""
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1 + 5, 40, 40, 1)), sinusoid.sample_tasks(rng, 5, 10, 10)
    exact, first = (grad(cavia.meta_loss)(params, tasks, mlp.mse, 5, 1.0, 1, first_order=fo) for fo in (False, True))
    assert max(np.max(np.abs(a - b)) for a, b in zip(exact, first)) > 1e-2


def test_gradcheck_rejects_the_first_order_gradient_as_the_exact_one():
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1 + 5, 40, 40, 1)), sinusoid.sample_tasks(rng, 5, 10, 10)
    f = lambda p: cavia.meta_loss(p, tasks, mlp.mse, 5, 1.0, 1)
    wrong = grad(cavia.meta_loss)(params, tasks, mlp.mse, 5, 1.0, 1, first_order=True)
    with pytest.raises(AssertionError, match="analytic"):
        directional_check(f, params, wrong, rng, "deliberately wrong")


@pytest.mark.parametrize("kwargs, message", [
    (dict(inner_steps=-1), "inner_lr must be > 0 and inner_steps an integer >= 0, got 0.1 and -1"),
    (dict(inner_steps=1.5), "inner_lr must be > 0 and inner_steps an integer >= 0, got 0.1 and 1.5"),
    (dict(inner_lr=-0.1), "inner_lr must be > 0 and inner_steps an integer >= 0, got -0.1 and 1"),
    (dict(inner_lr=0.0), "inner_lr must be > 0 and inner_steps an integer >= 0, got 0.0 and 1"),
])
def test_bad_arguments(kwargs, message):
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1 + 2, 5, 1)), sinusoid.sample_tasks(rng, 3, 4, 6)
    args = dict(n_context=2, inner_lr=0.1, inner_steps=1) | kwargs
    with pytest.raises(ValueError, match=message):
        cavia.meta_loss(params, tasks, mlp.mse, **args)


def test_mismatched_shapes_are_named_by_the_model():
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1 + 2, 5, 1)), sinusoid.sample_tasks(rng, 3, 4, 6)
    with pytest.raises(ValueError, match=r"got x \(3, 4, 3\) and y \(2, 4, 1\)"):
        cavia.adapt(params, tasks.x_support, tasks.y_support[:2], mlp.mse, 2, 0.1, 1)
    with pytest.raises(ValueError, match=r"got x \(3, 6, 3\) and y \(3, 5, 1\)"):
        cavia.meta_loss(params, tasks._replace(y_query=tasks.y_query[:, :5]), mlp.mse, 2, 0.1, 1)
    with pytest.raises(ValueError, match=r"got x \(3, 4, 2\)"):  # the network takes 1 + 2 inputs, not 1 + 1
        cavia.meta_loss(params, tasks, mlp.mse, 1, 0.1, 1)
