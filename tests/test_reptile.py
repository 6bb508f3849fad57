import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given

from problems import inner_lrs, problems
from hypothesis import strategies as st
from tinymeta import mlp, reptile, sinusoid


@given(problems(), inner_lrs, st.integers(1, 4))
def test_meta_gradient_equals_its_definition_task_by_task(problem, inner_lr, steps):
    params, tasks, _ = problem
    adapted = []
    for xt, yt in zip(tasks.x_support, tasks.y_support):
        w = params
        for _ in range(steps):
            w = [p - inner_lr * g for p, g in zip(w, grad(mlp.mse)(w, xt, yt))]
        adapted.append(w)
    expected = [p - np.mean([w[i] for w in adapted], axis=0) for i, p in enumerate(params)]
    got = reptile.meta_gradient(params, tasks, mlp.mse, inner_lr, steps)
    for a, b in zip(got, expected):
        assert a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=1e-13)


@given(problems(), inner_lrs)
def test_one_step_is_the_mean_support_gradient_times_the_rate(problem, inner_lr):
    params, tasks, _ = problem
    g = grad(lambda p: anp.mean(mlp.mse(p, tasks.x_support, tasks.y_support)))(params)  # anp: inside what grad traces
    for a, b in zip(reptile.meta_gradient(params, tasks, mlp.mse, inner_lr, 1), g):
        assert np.allclose(a, inner_lr * b, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("inner_lr, steps, message", [
    (0.01, 0, "inner_lr must be > 0 and inner_steps an integer >= 1, got 0.01 and 0"),
    (-1.0, 1, "inner_lr must be > 0 and inner_steps an integer >= 1, got -1.0 and 1"),
])
def test_bad_arguments(inner_lr, steps, message):
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 5, 1)), sinusoid.sample_tasks(rng, 3, 4, 6)
    with pytest.raises(ValueError, match=message):
        reptile.meta_gradient(params, tasks, mlp.mse, inner_lr, steps)
