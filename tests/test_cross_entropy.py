"""mlp.cross_entropy and mlp.accuracy: the definition, large logits, shapes; the gradient (softmax - y) and
Hessian-vector products against central differences; and every algorithm's meta-gradient with cross-entropy
as the model's loss, on small random classification tasks (tests/problems.py)."""
import re

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, hessian
from autograd.misc import flatten
from hypothesis import given, settings, strategies as st

import oracles
from problems import classification_problems, inner_lrs, inner_steps
from tinymeta import anil, cavia, enhanced, imaml, lslr, maml, metacurvature, metasgd, mlp, reptile
from tinymeta.gradcheck import directional_check

FEW = settings(max_examples=6)  # each example runs inner loops many times over: a few per algorithm
H = 1e-5  # learned rates and matrices bend the meta-loss sharply (as in test_metasgd.py)
LINEAR = [np.array([[1.0, -1.0, 0.0], [0.5, 2.0, -1.0]]), np.array([0.0, 0.5, 1.0])]  # 2 inputs, 3 classes
X, Y = np.array([[1.0, 2.0], [-1.0, 0.0]]), np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # logits [2, 3.5, -1], [-1, 1.5, 1]


def test_cross_entropy_and_accuracy_by_hand():
    expected = np.mean([np.log(np.exp(2) + np.exp(3.5) + np.exp(-1)) - 3.5, np.log(np.exp(-1) + np.exp(1.5) + np.exp(1)) + 1])
    assert abs(mlp.cross_entropy(LINEAR, X, Y) - expected) < 1e-14
    assert mlp.accuracy(LINEAR, X, Y) == 0.5  # the first is right (class 1), the second says 1, not 0
    assert mlp.accuracy(LINEAR, X.tolist(), Y.tolist()) == 0.5 and mlp.cross_entropy(LINEAR, X.tolist(), Y.tolist()) == \
        mlp.cross_entropy(LINEAR, X, Y)  # lists are arrays


def test_large_logits_neither_overflow_nor_change_the_loss():
    """Adding the same number to every logit changes no probability: the loss stays, even where exp(logit)
    overflows; a confident right answer costs ~0, a confident wrong one its margin."""
    for shift in (0.0, 1e3, 1e5, -1e5):
        shifted = [LINEAR[0], LINEAR[1] + shift]
        assert abs(mlp.cross_entropy(shifted, X, Y) - mlp.cross_entropy(LINEAR, X, Y)) < 1e-9 * (1 + abs(shift))
    W, b = 1e3 * LINEAR[0], 1e3 * LINEAR[1]  # logits [2000, 3500, -1000], [-1000, 1500, 1000]
    assert mlp.cross_entropy([W, b], X[:1], Y[:1]) == 0.0
    assert np.isclose(mlp.cross_entropy([W, b], X[1:], Y[1:]), 2500.0, rtol=1e-12)
    assert all(np.isfinite(g).all() for g in grad(mlp.cross_entropy)([W, b], X, Y))


def test_large_logits_give_finite_derivatives_equal_to_the_plain_paths():
    """Logits near 1000 through a hidden layer: the hand-derived gradient and Hessian-vector product (whose
    softmax is max-shifted too) are finite and agree with autograd through cross_entropy_reference."""
    rng = np.random.default_rng(0)
    params = [1e3 ** 0.5 * p for p in mlp.init(rng, (3, 6, 4))]  # each layer scaled: logits ~ 1000
    x, y = rng.normal(size=(2, 5, 3)), np.eye(4)[rng.integers(0, 4, (2, 5))]
    assert np.max(np.abs(mlp.predict(params, x))) > 700  # exp of these overflows
    V = [rng.standard_normal(p.shape) for p in params]
    for loss in (mlp.cross_entropy, mlp.cross_entropy_reference):
        assert np.all(np.isfinite(loss(params, x, y)))
    g, hv = ({loss: f(loss) for loss in (mlp.cross_entropy, mlp.cross_entropy_reference)} for f in (
        lambda loss: grad(lambda p: anp.sum(loss(p, x, y)))(params),
        lambda loss: grad(lambda p: sum(anp.sum(v * a) for v, a in zip(V, grad(lambda q: anp.sum(loss(q, x, y)))(p))))(params)))
    for d in (g, hv):
        fast, plain = d[mlp.cross_entropy], d[mlp.cross_entropy_reference]
        scale = max(np.max(np.abs(b)) for b in plain)
        assert all(np.isfinite(a).all() and np.max(np.abs(a - b)) <= 1e-12 * scale for a, b in zip(fast, plain))


def test_the_gradient_is_softmax_minus_y():
    """For logits z = x W + b: dL/dz_k = (softmax(z_k) - y_k) / K, so dL/db = mean_k (p_k - y_k) and dL/dW = x^T (p - y) / K
    (the derivation is in tutorials/12-classification.md)."""
    z = X @ LINEAR[0] + LINEAR[1]
    p = np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)
    gW, gb = grad(mlp.cross_entropy)(LINEAR, X, Y)
    assert np.allclose(gb, np.mean(p - Y, axis=0), rtol=1e-13, atol=0) and np.allclose(gW, X.T @ (p - Y) / 2, rtol=1e-13, atol=0)


@given(classification_problems(), st.booleans())
def test_one_loss_per_task_and_batched_networks_equal_one_at_a_time(problem, per_task):
    params, tasks, rng = problem
    T = len(tasks.x_support)
    if per_task:
        params = [np.stack([p + 0.1 * rng.standard_normal(p.shape) for _ in range(T)]) for p in params]  # (T,) + p.shape
    losses, right = mlp.cross_entropy(params, tasks.x_support, tasks.y_support), mlp.accuracy(params, tasks.x_support, tasks.y_support)
    assert losses.shape == right.shape == (T,)
    for t in range(T):
        own = [p[t] for p in params] if per_task else params
        assert abs(losses[t] - mlp.cross_entropy(own, tasks.x_support[t], tasks.y_support[t])) <= 1e-12 * (1 + losses[t])
        assert right[t] == mlp.accuracy(own, tasks.x_support[t], tasks.y_support[t])
    extra = np.stack([tasks.x_support, tasks.x_support])  # (2, T, K, n_in): an extra leading axis broadcasts
    assert mlp.cross_entropy(params, extra, np.stack([tasks.y_support] * 2)).shape == (2, T)


@given(classification_problems())
def test_gradient_matches_finite_differences(problem):
    params, tasks, rng = problem
    f = lambda p: anp.sum(mlp.cross_entropy(p, tasks.x_support, tasks.y_support))
    directional_check(f, params, grad(f)(params), rng, "mlp.cross_entropy")


@given(classification_problems())
def test_hessian_vector_product_matches_finite_differences(problem):
    params, tasks, rng = problem
    V = [rng.standard_normal(p.shape) for p in params]
    g = grad(lambda p: anp.sum(mlp.cross_entropy(p, tasks.x_support, tasks.y_support)))
    along = lambda p: sum(anp.sum(v * gi) for v, gi in zip(V, g(p)))  # <V, gradient>: its gradient is H V
    directional_check(along, params, grad(along)(params), rng, "mlp.cross_entropy Hessian-vector product")


@pytest.mark.parametrize("y_shape", [(2, 2), (3, 3), (3,), (1, 2, 3)])
def test_labels_of_the_wrong_shape_name_the_shapes(y_shape):
    with pytest.raises(ValueError, match=r"got x \(2, 2\) and y " + re.escape(str(y_shape))):
        mlp.cross_entropy(LINEAR, X, np.zeros(y_shape))


# ----- every algorithm takes cross-entropy unchanged: its meta-gradient on classification tasks -----

def loop_adapt(params, x, y, update, steps):
    """The inner loop task by task with the cross-entropy gradient: w <- update(w, g, s) at step s; (T,) + p.shape."""
    out = []
    for xt, yt in zip(x, y):
        w = list(params)
        for s in range(steps):
            w = update(w, grad(mlp.cross_entropy)(w, xt, yt), s)
        out.append(w)
    return [np.stack(ws) for ws in zip(*out)]


def query_gradient(fast, tasks):
    """Mean over tasks of the query gradient at each task's own fast weights: the first-order meta-gradient."""
    per_task = [grad(mlp.cross_entropy)([w[t] for w in fast], tasks.x_query[t], tasks.y_query[t])
                for t in range(len(tasks.x_query))]
    return [sum(gs) / len(per_task) for gs in zip(*per_task)]


def check(f, x, rng, name, h=H):
    """f's autograd gradient at x against central differences."""
    directional_check(f, x, grad(f)(x), rng, name + " with cross-entropy", h=h)


@FEW
@given(classification_problems(), inner_lrs, inner_steps)
def test_maml(problem, inner_lr, steps):
    params, tasks, rng = problem
    check(lambda p: maml.meta_loss(p, tasks, mlp.cross_entropy, inner_lr, steps), params, rng, "maml.meta_loss")


@FEW
@given(classification_problems(), inner_lrs, inner_steps)
def test_first_order_maml_is_the_query_gradient_at_the_adapted_weights(problem, inner_lr, steps):
    params, tasks, _ = problem
    fo = grad(maml.meta_loss)(params, tasks, mlp.cross_entropy, inner_lr, steps, first_order=True)
    fast = loop_adapt(params, tasks.x_support, tasks.y_support, lambda w, g, s: [p - inner_lr * gi for p, gi in zip(w, g)], steps)
    oracles.assert_close(fo, query_gradient(fast, tasks), tol=1e-10)


@FEW
@given(classification_problems(), inner_lrs, inner_steps)
def test_reptile_is_theta_minus_the_mean_adapted_weights(problem, inner_lr, steps):
    params, tasks, _ = problem
    fast = loop_adapt(params, tasks.x_support, tasks.y_support, lambda w, g, s: [p - inner_lr * gi for p, gi in zip(w, g)], steps)
    oracles.assert_close(reptile.meta_gradient(params, tasks, mlp.cross_entropy, inner_lr, steps),
                         [p - np.mean(w, axis=0) for p, w in zip(params, fast)], tol=1e-10)


@FEW
@given(classification_problems(), inner_steps)
def test_metasgd(problem, steps):
    params, tasks, rng = problem
    meta = {"params": params, "lr": [oracles.rates(rng, p.shape) for p in params]}
    check(lambda m: metasgd.meta_loss(m, tasks, mlp.cross_entropy, steps), meta, rng, "metasgd.meta_loss")


@FEW
@given(classification_problems(), inner_steps)
def test_lslr(problem, steps):
    params, tasks, rng = problem
    meta = {"params": params, "lr": oracles.rates(rng, (steps, len(params)))}
    check(lambda m: lslr.meta_loss(m, tasks, mlp.cross_entropy), meta, rng, "lslr.meta_loss")


@FEW
@given(classification_problems(), inner_lrs, inner_steps)
def test_metacurvature(problem, inner_lr, steps):
    params, tasks, rng = problem
    meta = {"params": params, "curvature": oracles.curvature(rng, params)}
    check(lambda m: metacurvature.meta_loss(m, tasks, mlp.cross_entropy, inner_lr, steps), meta, rng,
          "metacurvature.meta_loss")


@FEW
@given(classification_problems(), inner_steps, st.booleans())
def test_enhanced(problem, steps, multi_step):
    params, tasks, rng = problem
    meta = {"params": params, "lr": oracles.rates(rng, (steps, len(params))), "curvature": oracles.curvature(rng, params)}
    weights = rng.dirichlet(np.ones(steps)) if multi_step else None
    check(lambda m: enhanced.meta_loss(m, tasks, mlp.cross_entropy, weights), meta, rng, "enhanced.meta_loss")


@FEW
@given(classification_problems(), inner_lrs, inner_steps)
def test_anil(problem, inner_lr, steps):
    params, tasks, rng = problem
    check(lambda p: anil.meta_loss(p, tasks, mlp.cross_entropy, inner_lr, steps), params, rng, "anil.meta_loss")


@FEW
@given(classification_problems(), st.integers(1, 3), st.floats(0.01, 1.0), inner_steps)
def test_cavia(problem, n_context, inner_lr, steps):
    params, tasks, rng = problem
    params = [np.vstack([params[0], rng.standard_normal((n_context, params[0].shape[1]))])] + params[1:]  # context inputs
    check(lambda p: cavia.meta_loss(p, tasks, mlp.cross_entropy, n_context, inner_lr, steps), params, rng,
          "cavia.meta_loss", h=1e-4)


@FEW
@given(classification_problems(), st.floats(2, 10), st.integers(0, 3))
def test_imaml_is_the_implicit_formula_with_an_explicit_hessian(problem, factor, steps):
    """mean_t (I + H_t / reg)^-1 grad L_q(phi_t), H_t the Hessian of the support cross-entropy at phi_t written
    out, solved exactly: what CG computes with Hessian-vector products, given as many steps as weights."""
    params, tasks, _ = problem
    flat, unflatten = flatten(params)
    hessians = lambda w, x, y: hessian(lambda v: mlp.cross_entropy(unflatten(v), x, y))(flatten(w)[0])
    largest = max(1.0, max(np.max(np.abs(np.linalg.eigvalsh(hessians(params, x, y))))
                           for x, y in zip(tasks.x_support, tasks.y_support)))
    reg, inner_lr = factor * largest, 1 / ((1 + factor) * largest)  # I + H / reg positive definite near theta
    phi = imaml.adapt(params, tasks.x_support, tasks.y_support, mlp.cross_entropy, inner_lr, steps, reg)
    expected = []
    for t in range(len(tasks.x_support)):
        w = [p[t] for p in phi]
        g = flatten(grad(mlp.cross_entropy)(w, tasks.x_query[t], tasks.y_query[t]))[0]
        expected.append(np.linalg.solve(np.eye(len(g)) + hessians(w, tasks.x_support[t], tasks.y_support[t]) / reg, g))
    meta = imaml.meta_gradient(params, tasks, mlp.cross_entropy, inner_lr, steps, reg, cg_steps=len(flat))
    assert np.allclose(flatten(meta)[0], np.mean(expected, axis=0), rtol=1e-8, atol=1e-12)
