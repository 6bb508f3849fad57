"""A tiny multilayer perceptron as pure functions over a flat list of float64 arrays.

params = [W1, b1, W2, b2, ...] with W of shape (n_in, n_out) and b of shape (n_out,).
Every array may carry the same extra leading task axes, (T, n_in, n_out) and (T, n_out),
so that one call evaluates T different networks on T different tasks at once.

`predict` and `mse_reference` are the model as you would write it; autograd differentiates them
one operation at a time. `mse`, the loss the algorithms use, computes the same numbers through
mlp_fast.py, whose gradient and Hessian-vector product are derived by hand
(tutorials/08-fast-gradients.md): autograd then records one step where it would record dozens
(see `make bench` for what that buys).
"""
import autograd.numpy as np
from autograd.tracer import isbox

from tinymeta import mlp_fast


def init(rng, sizes=(1, 40, 40, 1)):
    """Random parameters for an MLP with layer widths `sizes`, e.g. (1, 40, 40, 1).

    He (Kaiming) normal initialisation, W ~ N(0, 2 / n_in), and zero biases: with ReLU
    hidden layers this keeps the variance of the activations roughly constant from layer
    to layer (He et al. 2015), so the network starts neither flat nor exploding.
    `rng` is a numpy.random.Generator. Returns [W1, b1, W2, b2, ...] in float64.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(0), got {rng!r}")
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive layer widths, got {sizes}")
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append(rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out)))
        params.append(np.zeros(n_out))
    return params


def predict(params, x):
    """Network output for inputs x of shape (..., K, n_in); returns (..., K, n_out).

    ReLU hidden layers, linear output layer. Leading task axes of x must match those of
    the parameters (or be absent from one of them, and broadcast). Lists are taken as arrays.
    """
    params, x = arrays(params), array(x)
    check(params, x)
    h = x
    for W, b in zip(params[:-2:2], params[1:-2:2]):
        h = np.maximum(h @ W + b[..., None, :], 0.0)  # (..., K, n_hidden)
    return h @ params[-2] + params[-1][..., None, :]


def mse_reference(params, x, y):
    """Mean squared error per task, differentiated by autograd op by op: the definition of `mse`."""
    params, x, y = arrays(params), array(x), array(y)
    check(params, x, y)
    return np.mean((predict(params, x) - y) ** 2, axis=(-2, -1))


def mse(params, x, y):
    """Mean squared error per task: x (..., K, n_in), y (..., K, n_out) -> shape x.shape[:-2].

    Same value as mse_reference; its gradient (to any order) comes from hand-derived backprop.
    Lists (of numbers) are taken as arrays.
    """
    params, x, y = arrays(params), array(x), array(y)  # also reads the arrays out of autograd's list once
    check(params, x, y)
    if isbox(x) or isbox(y):  # differentiating with respect to the data: the plain path
        return mse_reference(params, x, y)
    return mlp_fast.mse(x, y, *params)  # one autograd primitive


def array(a):
    """a as a float64 array, unless it is one already or autograd is tracing it (a box): lists become arrays."""
    return a if isbox(a) or isinstance(a, np.ndarray) else np.array(a, dtype=float)


def arrays(params):
    """The parameter list with every entry an array (see `array`)."""
    if not isinstance(params, (list, tuple)) and not isbox(params):
        raise ValueError(f"params must be a list of arrays [W1, b1, W2, b2, ...], got {type(params).__name__}")
    return [array(p) for p in params]


def check(params, x, y=None):
    """Raise a ValueError naming the shapes if params, x (and y) do not fit together."""
    if len(params) < 2 or len(params) % 2:
        raise ValueError(f"params must be [W1, b1, W2, b2, ...], got {len(params)} arrays")
    if np.ndim(x) < 2:
        raise ValueError(f"x must have shape (..., K, n_in), got {np.shape(x)}")
    n = np.shape(x)[-1]
    for i in range(0, len(params), 2):
        W, b = np.shape(params[i]), np.shape(params[i + 1])
        if len(W) < 2 or W[-2] != n or b[-1:] != W[-1:]:
            raise ValueError(f"layer {i // 2 + 1}: W {W} and b {b} do not take inputs of "
                             f"width {n} (x has shape {np.shape(x)})")
        n = W[-1]
    if y is not None and np.shape(y)[-2:] != (np.shape(x)[-2], n):
        raise ValueError(f"y must have shape (..., {np.shape(x)[-2]}, {n}) to match x {np.shape(x)}, "
                         f"got {np.shape(y)}")


# ----- classification: softmax cross-entropy and accuracy (tutorials/12-classification.md) -----

def cross_entropy(params, x, y):
    """Softmax cross-entropy per task, the mean over its K examples: x (..., K, n_in), y (..., K, N) one-hot
    labels (or any probabilities) -> shape x.shape[:-2]. The network's N outputs are logits z, and

        loss = log sum_j exp(z_j) - sum_j y_j z_j,

    the log-sum-exp taken as m + log sum_j exp(z_j - m) with m = max_j z_j, so that no exp overflows.
    Differentiated by autograd op by op (m drops out of the gradient). Lists are taken as arrays.
    """
    logits = predict(params, x)  # (..., K, N)
    y = array(y)
    if np.shape(y) != np.shape(logits)[-np.ndim(y):] or np.ndim(y) < 2:
        raise ValueError(f"y must have shape (..., {np.shape(logits)[-2]}, {np.shape(logits)[-1]}) to match "
                         f"x {np.shape(x)} and the network's {np.shape(logits)[-1]} outputs, got {np.shape(y)}")
    top = np.max(logits, axis=-1, keepdims=True)  # (..., K, 1)
    log_sum_exp = top[..., 0] + np.log(np.sum(np.exp(logits - top), axis=-1))  # (..., K)
    return np.mean(log_sum_exp - np.sum(y * logits, axis=-1), axis=-1)


def accuracy(params, x, y):
    """Fraction of a task's K examples whose largest output is at their label: x (..., K, n_in), y (..., K, N)
    one-hot -> shape x.shape[:-2]."""
    logits = predict(params, x)
    return np.mean(np.argmax(logits, axis=-1) == np.argmax(y, axis=-1), axis=-1)
