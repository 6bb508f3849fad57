import re

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.core import VJPNode
from autograd.tracer import trace
from autograd.util import toposort
from hypothesis import given
from hypothesis import strategies as st

from oracles import directional_check
from problems import classification_problems, inner_lrs, inner_steps, problems
from tinymeta import maml, mlp, sinusoid


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


def test_a_unit_exactly_at_zero_gets_no_gradient():
    """ReLU'(0) is taken as 0 by the hand-derived path (mlp_fast.py). Hidden unit 2 has W1 = b1 = 0, so its
    z is exactly 0 on every input (random weights never land there): its incoming weight and bias get a
    zero gradient, and the Hessian-vector product puts nothing there either; its neighbours get the
    gradient of the reference path. (autograd's own np.maximum would give half at the tie: 0.5 * g.)"""
    rng = np.random.default_rng(0)
    params = mlp.init(rng, (1, 3, 1))
    params[0][:, 2], params[1][2] = 0.0, 0.0
    x, y = rng.uniform(-5, 5, (6, 1)), rng.uniform(-5, 5, (6, 1))
    g = grad(mlp.mse)(params, x, y)
    assert g[0][0, 2] == 0 and g[1][2] == 0
    reference = grad(mlp.mse_reference)(params, x, y)
    assert np.allclose(g[0][:, :2], reference[0][:, :2]) and np.allclose(g[1][:2], reference[1][:2])
    assert np.allclose(g[2], reference[2]) and np.allclose(g[3], reference[3])
    hvp = grad(lambda p: anp.sum(grad(mlp.mse)(p, x, y)[1] * anp.ones(3)))(params)
    assert hvp[0][0, 2] == 0 and hvp[1][2] == 0


def test_lists_are_taken_as_arrays():
    rng = np.random.default_rng(0)
    params, x, y = mlp.init(rng, (1, 4, 1)), rng.uniform(-5, 5, (5, 1)), rng.uniform(-5, 5, (5, 1))
    lists = [p.tolist() for p in params]
    assert mlp.mse(lists, x.tolist(), y.tolist()) == mlp.mse(params, x, y)
    assert mlp.mse_reference(lists, x.tolist(), y.tolist()) == mlp.mse_reference(params, x, y)
    assert np.array_equal(mlp.predict(lists, x.tolist()), mlp.predict(params, x))
    with pytest.raises(ValueError, match=r"params of shapes \[\(4,\)\] must take x"):  # one array, not a list
        mlp.mse(params[0], x, y)


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


@pytest.mark.parametrize("x_shape, y_shape", [
    ((5, 2), (5, 1)),  # x wider than the network's input
    ((5, 1), (4, 1)),  # a point too few in y
    ((5,), (5, 1)),  # x without its feature axis
    ((5, 1), (5,)),  # y without its output axis: (5, 1) - (5,) would broadcast to (5, 5)
    ((3, 5, 1), (2, 5, 1)),  # a task too few in y
])
def test_bad_shapes_name_the_shapes(x_shape, y_shape):
    params = mlp.init(np.random.default_rng(0), (1, 4, 1))
    message = rf"params of shapes \[\(1, 4\), \(4,\), \(4, 1\), \(1,\)\] must take x \(\.\.\., K, n_in\) to " \
              rf"y \(\.\.\., K, n_out\), got x {re.escape(str(x_shape))} and y {re.escape(str(y_shape))}"
    for loss in (mlp.mse, mlp.mse_reference):
        with pytest.raises(ValueError, match=message):
            loss(params, np.zeros(x_shape), np.zeros(y_shape))


# ----- the fast path: hand-derived gradient and Hessian-vector product (tutorials/08), for both losses -----

LAYOUTS = ("shared", "per_task", "extra_axis", "one_task")
REFERENCE = {mlp.mse: mlp.mse_reference, mlp.cross_entropy: mlp.cross_entropy_reference}
FAST = pytest.mark.parametrize("loss", REFERENCE, ids=lambda f: f.__name__)


@st.composite
def labelled(draw):
    """A classification problem whose support labels are one-hot, or any real numbers: the cross-entropy
    lse(z) - y . z and its derivatives (delta = p - y) hold for every y, not only for y summing to 1."""
    params, tasks, rng = draw(classification_problems())
    if draw(st.booleans()):
        tasks = tasks._replace(y_support=rng.normal(size=tasks.y_support.shape))
    return params, tasks, rng


def problem_for(loss, data):
    """A regression problem for mse, a classification one for cross_entropy."""
    return data.draw(problems() if loss is mlp.mse else labelled())


def arrange(problem, layout):
    """(params, x, y, rng) in one of the layouts the contract allows:
    shared: params (n_in, n_out), x (T, K, n_in);  per_task: params (T, n_in, n_out), x (T, K, n_in);
    extra_axis: params (T, ...), x (2, T, K, n_in);  one_task: params (n_in, n_out), x (K, n_in)."""
    params, tasks, rng = problem
    x, y = tasks.x_support, tasks.y_support
    T = len(x)
    if layout in ("per_task", "extra_axis"):
        params = [p + 0.1 * rng.standard_normal((T,) + p.shape) for p in params]
    if layout == "extra_axis":
        x = np.stack([x, rng.uniform(-2, 2, x.shape)])
        y = np.stack([y, rng.normal(size=y.shape)])
    if layout == "one_task":
        x, y = x[0], y[0]
    return params, x, y, rng


def close(a, b, rtol=1e-10):
    """Every array in the lists a and b agrees to rtol of the largest entry of b."""
    scale = max(np.max(np.abs(v)) for v in b) + 1e-300
    return all(u.shape == v.shape and np.max(np.abs(u - v)) <= rtol * scale for u, v in zip(a, b))


def weighted(loss, x, y, w):
    """sum over tasks of w * loss: the scalar whose gradient backprop computes."""
    return lambda p: anp.sum(w * loss(p, x, y))


@FAST
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_fast_loss_has_the_reference_value(loss, data, layout):
    params, x, y, _ = arrange(problem_for(loss, data), layout)
    fast, ref = loss(params, x, y), REFERENCE[loss](params, x, y)
    assert np.shape(fast) == np.shape(ref) == np.broadcast_shapes(x.shape[:-2], params[0].shape[:-2])
    assert np.allclose(fast, ref, rtol=1e-13, atol=0)


@FAST
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_hand_gradient_equals_autograd_of_the_plain_forward(loss, data, layout):
    params, x, y, rng = arrange(problem_for(loss, data), layout)
    w = rng.uniform(0.5, 2, np.shape(loss(params, x, y)))  # an arbitrary weight per task
    hand = grad(weighted(loss, x, y, w))(params)
    auto = grad(weighted(REFERENCE[loss], x, y, w))(params)
    assert close(hand, auto)


@FAST
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_hand_gradient_matches_finite_differences(loss, data, layout):
    params, x, y, rng = arrange(problem_for(loss, data), layout)
    f = weighted(loss, x, y, 1.0)
    directional_check(f, params, grad(f)(params), rng, f"mlp.{loss.__name__} hand gradient")


def hvp_along(loss, x, y, w, V):
    """p -> <V, gradient of sum(w * loss)>; its gradient is the Hessian-vector product H V."""
    return lambda p: sum(anp.sum(v * g) for v, g in zip(V, grad(weighted(loss, x, y, w))(p)))


@FAST
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_hand_hessian_vector_product_equals_autograd_of_the_plain_forward(loss, data, layout):
    params, x, y, rng = arrange(problem_for(loss, data), layout)
    w = rng.uniform(0.5, 2, np.shape(loss(params, x, y)))
    V = [rng.standard_normal(p.shape) for p in params]
    assert close(grad(hvp_along(loss, x, y, w, V))(params), grad(hvp_along(REFERENCE[loss], x, y, w, V))(params))


@FAST
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_hand_hessian_vector_product_matches_finite_differences(loss, data, layout):
    params, x, y, rng = arrange(problem_for(loss, data), layout)
    V = [rng.standard_normal(p.shape) for p in params]
    f = hvp_along(loss, x, y, 1.0, V)
    directional_check(f, params, grad(f)(params), rng, f"mlp.{loss.__name__} hand Hessian-vector product")


@FAST
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_derivative_of_the_gradient_along_the_task_weights(loss, data, layout):
    """The backprop primitive also differentiates with respect to its upstream weights g."""
    params, x, y, rng = arrange(problem_for(loss, data), layout)
    w = rng.uniform(0.5, 2, np.shape(loss(params, x, y)))
    V = [rng.standard_normal(p.shape) for p in params]
    along = lambda f: grad(lambda w: hvp_along(f, x, y, w, V)(params))(w)
    hand, auto = along(loss), along(REFERENCE[loss])
    assert np.shape(hand) == np.shape(w) and np.allclose(hand, auto, rtol=1e-10, atol=1e-12)


@FAST
@given(data=st.data(), layout=st.sampled_from(LAYOUTS))
def test_third_derivatives_still_flow(loss, data, layout):
    """The Hessian-vector product is itself written in autograd.numpy: differentiate it once more."""
    params, x, y, rng = arrange(problem_for(loss, data), layout)
    V, U = ([rng.standard_normal(p.shape) for p in params] for _ in range(2))
    third = lambda f: grad(lambda p: sum(anp.sum(u * h) for u, h in zip(U, grad(hvp_along(f, x, y, 1.0, V))(p))))
    assert close(third(loss)(params), third(REFERENCE[loss])(params), rtol=1e-9)


@FAST
@given(data=st.data(), inner_lr=inner_lrs, steps=inner_steps, first_order=st.booleans())
def test_meta_gradient_through_the_fast_path_equals_the_plain_path(loss, data, inner_lr, steps, first_order):
    params, tasks, rng = problem_for(loss, data)
    fast = grad(maml.meta_loss)(params, tasks, loss, inner_lr, steps, first_order)
    plain = grad(maml.meta_loss)(params, tasks, REFERENCE[loss], inner_lr, steps, first_order)
    assert close(fast, plain)
    f = lambda p: maml.meta_loss(p, tasks, loss, inner_lr, steps)
    directional_check(f, params, grad(f)(params), rng, f"maml.meta_loss via fast {loss.__name__}")


@FAST
@given(data=st.data())
def test_gradient_with_respect_to_the_data_takes_the_plain_path(loss, data):
    params, tasks, _ = problem_for(loss, data)
    x, y = tasks.x_support, tasks.y_support
    for argnum in (1, 2):
        hand = grad(lambda *a: anp.sum(loss(*a)), argnum)(params, x, y)
        auto = grad(lambda *a: anp.sum(REFERENCE[loss](*a)), argnum)(params, x, y)
        assert np.allclose(hand, auto, rtol=1e-12, atol=1e-14)


@FAST
def test_fast_path_is_one_recorded_step(loss):
    """What makes it fast: autograd records one node for the loss, where the plain forward needs many."""
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 40, 40, 3)), sinusoid.sample_tasks(rng, 3, 4, 4)
    x, y = tasks.x_support, np.eye(3)[rng.integers(0, 3, (3, 4))]  # (T, K, 3): targets, or one-hot labels

    def recorded(f):
        _, end = trace(VJPNode.new_root(), lambda p: anp.sum(f(p, x, y)), params)
        return len(list(toposort(end)))
    assert recorded(loss) < recorded(REFERENCE[loss]) / 2
