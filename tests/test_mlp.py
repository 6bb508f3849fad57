import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from hypothesis import given

from gradcheck import directional_check
from problems import problems
from tinymeta import mlp


def test_init_shapes_dtype_and_he_scale():
    params = mlp.init(np.random.default_rng(0), (1, 40, 40, 1))
    assert [p.shape for p in params] == [(1, 40), (40,), (40, 40), (40,), (40, 1), (1,)]
    assert all(p.dtype == np.float64 for p in params)
    assert all(np.all(b == 0) for b in params[1::2])
    big = mlp.init(np.random.default_rng(1), (400, 300, 1))[0]
    assert abs(big.var() - 2 / 400) < 0.05 * 2 / 400  # He: Var W = 2 / n_in


def test_init_same_seed_same_bits():
    a, b = (mlp.init(np.random.default_rng(7), (2, 5, 3)) for _ in range(2))
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_predict_by_hand():
    W1, b1, W2, b2 = np.array([[1.0, -1.0]]), np.array([0.0, 1.0]), np.array([[2.0], [3.0]]), np.array([0.5])
    x = np.array([[2.0], [-3.0]])
    # x=2: hidden relu(2, -1) = (2, 0) -> 4.5;  x=-3: hidden relu(-3, 4) = (0, 4) -> 12.5
    assert np.allclose(mlp.predict([W1, b1, W2, b2], x), [[4.5], [12.5]])


@given(problems())
def test_batched_networks_equal_one_at_a_time(problem):
    params, tasks, rng = problem
    stacked = [np.stack([p + 0.1 * t for t in range(len(tasks.x_support))]) for p in params]  # (T, ...)
    batched = mlp.mse(stacked, tasks.x_support, tasks.y_support)
    assert batched.shape == (len(tasks.x_support),)
    for t in range(len(tasks.x_support)):
        own = [p[t] for p in stacked]
        assert np.allclose(mlp.predict(stacked, tasks.x_support)[t], mlp.predict(own, tasks.x_support[t]), atol=1e-12)
        assert abs(batched[t] - mlp.mse(own, tasks.x_support[t], tasks.y_support[t])) <= 1e-12 * (1 + batched[t])


@given(problems())
def test_mse_gradient_matches_finite_differences(problem):
    params, tasks, rng = problem
    f = lambda p: anp.sum(mlp.mse(p, tasks.x_support, tasks.y_support))
    directional_check(f, params, grad(f)(params), rng, "mlp.mse")


def test_mse_is_scalar_for_unbatched_x():
    params = mlp.init(np.random.default_rng(0), (1, 4, 1))
    assert np.shape(mlp.mse(params, np.zeros((5, 1)), np.zeros((5, 1)))) == ()


@pytest.mark.parametrize("x_shape, y_shape, message", [
    ((5, 2), (5, 1), r"x has shape \(5, 2\)"),
    ((5, 1), (4, 1), r"got \(4, 1\)"),
    ((5,), (5, 1), r"got \(5,\)"),
])
def test_bad_shapes_name_the_shapes(x_shape, y_shape, message):
    params = mlp.init(np.random.default_rng(0), (1, 4, 1))
    with pytest.raises(ValueError, match=message):
        mlp.mse(params, np.zeros(x_shape), np.zeros(y_shape))


def test_bad_sizes():
    with pytest.raises(ValueError, match=r"\(1, 0, 1\)"):
        mlp.init(np.random.default_rng(0), (1, 0, 1))
