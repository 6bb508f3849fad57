"""fastmaml.py, MAML and Reptile computed with each task's layers as factors W + U^T V, against maml.py and
reptile.py, which keep a copy of the network per task: the same meta-losses and meta-gradients (exact and first
order, any number of steps, either loss) to rounding; and the registry trains Omniglot runs through it, sinusoids through maml.py."""
import numpy as np
import pytest
from autograd import grad, value_and_grad
from hypothesis import given, settings, strategies as st

import oracles
from problems import classification_problems, problems
from tinymeta import anil, maml, mlp, reptile
from tinymeta.lab import fastmaml, families, registry, train

FEW = settings(max_examples=8)
LOSSES = {"regression": (problems, mlp.mse), "classification": (classification_problems, mlp.cross_entropy)}


def distance(a, b):
    """The largest difference between two lists of arrays, relative to 1 + the largest entry of a."""
    return max(float(np.max(np.abs(x - y))) / (1 + float(np.max(np.abs(x)))) for x, y in zip(a, b))


PAIRS = {"maml": (maml.meta_loss, fastmaml.meta_loss), "anil": (anil.meta_loss, fastmaml.anil_meta_loss)}


@pytest.mark.parametrize("kind", LOSSES)
@pytest.mark.parametrize("algorithm", PAIRS)
@FEW
@given(data=st.data(), steps=st.integers(0, 3), first_order=st.booleans(), inner_lr=st.floats(0.01, 0.5))
def test_meta_loss_and_gradient_equal_the_modules(kind, algorithm, data, steps, first_order, inner_lr):
    """fastmaml's MAML and ANIL against maml.py and anil.py."""
    strategy, loss = LOSSES[kind]
    params, tasks, _ = data.draw(strategy())
    slow, g_slow = value_and_grad(PAIRS[algorithm][0])(params, tasks, loss, inner_lr, steps, first_order)
    fast, g_fast = value_and_grad(PAIRS[algorithm][1])(params, tasks, loss, inner_lr, steps, first_order)
    assert abs(fast - slow) <= 1e-12 * (1 + abs(slow))
    assert distance(g_slow, g_fast) < 1e-11


@pytest.mark.parametrize("kind", LOSSES)
@FEW
@given(data=st.data(), steps=st.integers(1, 3), inner_lr=st.floats(0.01, 0.5))
def test_reptile_direction_equals_reptile(kind, data, steps, inner_lr):
    strategy, loss = LOSSES[kind]
    params, tasks, _ = data.draw(strategy())
    _, direction = fastmaml.reptile(params, tasks, loss, inner_lr, steps)
    assert distance(reptile.meta_gradient(params, tasks, loss, inner_lr, steps), direction) < 1e-11
    fast = reptile.adapt(params, tasks.x_support, tasks.y_support, loss, inner_lr, steps)
    loss_at_adapted, _ = fastmaml.reptile(params, tasks, loss, inner_lr, steps)
    assert abs(loss_at_adapted - np.mean(loss(fast, tasks.x_query, tasks.y_query))) < 1e-12


@pytest.mark.parametrize("kind", LOSSES)
@FEW
@given(data=st.data(), steps=st.integers(1, 3), first_order=st.booleans())
def test_the_adapted_layers_are_w_plus_u_transpose_v(kind, data, steps, first_order):
    """adapt's factors are the change of every task's layers: W_t = W + U_t^T V_t and its biases b_t, the
    network maml.adapt computes, of rank at most steps x S."""
    strategy, loss = LOSSES[kind]
    params, tasks, _ = data.draw(strategy())
    weights, biases, factors = fastmaml.adapt(params, tasks, loss, 0.3, steps, first_order)
    slow = maml.adapt(params, tasks.x_support, tasks.y_support, loss, 0.3, steps)
    full = [W + np.swapaxes(U, -1, -2) @ V for W, (U, V) in zip(weights, factors)]
    assert distance(slow[0::2], full) < 1e-12 and distance(slow[1::2], biases) < 1e-12
    assert all(U.shape[1] == V.shape[1] == steps * tasks.x_support.shape[1] for U, V in factors)


@pytest.mark.parametrize("first_order", [False, True])
def test_a_layer_of_dead_units_gets_the_same_numbers(first_order):
    """A first layer of zeros: every unit of the next layer sees inputs of 0 and sits at the ReLU's kink, where
    autograd's slope for np.maximum is 1/2; fastmaml's hand-written backprop must take the same. (Against the
    loss as defined, differentiated op by op: mlp_fast's hand-derived one takes slope 0 there.)"""
    rng = np.random.default_rng(5)
    params = mlp.init(rng, (4, 3, 6, 3))
    params = [np.zeros((4, 3)), np.zeros(3)] + [p + 0.1 * rng.standard_normal(p.shape) for p in params[2:]]
    labels = lambda k: np.eye(3)[rng.integers(0, 3, (2, k))]  # noqa: E731
    tasks = fastmaml.Tasks(rng.uniform(-2, 2, (2, 3, 4)), labels(3), rng.uniform(-2, 2, (2, 3, 4)), labels(3))
    loss = mlp.cross_entropy_reference
    slow, g_slow = value_and_grad(maml.meta_loss)(params, tasks, loss, 0.4, 2, first_order)
    fast, g_fast = value_and_grad(fastmaml.meta_loss)(params, tasks, loss, 0.4, 2, first_order)
    assert abs(fast - slow) <= 1e-12 * (1 + abs(slow)) and distance(g_slow, g_fast) < 1e-11


def omniglot_config(algorithm, **given):
    return train.make_config(algorithm, problem="omniglot", hidden=[6], ways=3, meta_batch=2, **given)


@pytest.mark.parametrize("algorithm, module", [("maml", maml), ("fomaml", maml), ("anil", anil)])
def test_the_registry_trains_omniglot_on_the_images_and_sinusoids_with_maml_py(algorithm, module):
    config = omniglot_config(algorithm)
    rng = np.random.default_rng(3)
    meta = registry.ALGORITHMS[algorithm].init(mlp.init(rng, families.sizes(config)), config)
    tasks = families.sample(rng, config, 2, "train")
    first_order = algorithm == "fomaml"
    loss, g = registry.ALGORITHMS[algorithm].loss_and_grad(meta, tasks, config, 10**6)
    expected, g_expected = value_and_grad(module.meta_loss)(meta["params"], tasks, mlp.cross_entropy, config["inner_lr"], 1,
                                                     first_order)
    assert abs(loss - expected) < 1e-12 and distance(g_expected, g["params"]) < 1e-11
    assert registry.meta_loss(maml, config) is fastmaml.meta_loss
    assert registry.meta_loss(maml, train.make_config(algorithm)) is maml.meta_loss  # sinusoids: maml.py, bit for bit


def test_the_registry_takes_reptile_on_the_images_for_omniglot():
    config = omniglot_config("reptile", inner_steps=2, inner_lr=0.1)
    rng = np.random.default_rng(4)
    meta = registry.ALGORITHMS["reptile"].init(mlp.init(rng, families.sizes(config)), config)
    tasks = families.sample(rng, config, 2, "train")
    _, g = registry.ALGORITHMS["reptile"].loss_and_grad(meta, tasks, config, 1)
    assert distance(reptile.meta_gradient(meta["params"], tasks, mlp.cross_entropy, 0.1, 2), g["params"]) < 1e-11


@pytest.mark.parametrize("kind", LOSSES)
@FEW
@given(data=st.data(), steps=st.integers(1, 3))
def test_the_fast_meta_gradient_matches_central_differences(kind, data, steps):
    """The exact meta-gradient of fastmaml.meta_loss along random directions, in float64."""
    strategy, loss = LOSSES[kind]
    params, tasks, rng = data.draw(strategy())
    f = lambda p: fastmaml.meta_loss(p, tasks, loss, 0.3, steps)  # noqa: E731
    oracles.directional_check(f, params, grad(f)(params), rng, "fastmaml.meta_loss (second order)")
