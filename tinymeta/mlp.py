"""A tiny multilayer perceptron as pure functions over a flat list of float64 arrays.

params = [W1, b1, W2, b2, ...] with W of shape (n_in, n_out) and b of shape (n_out,).
Every array may carry the same extra leading task axes, (T, n_in, n_out) and (T, n_out),
so that one call evaluates T different networks on T different tasks at once.

`predict`, `mse_reference` and `cross_entropy_reference` are the model as you would write it; autograd
differentiates them one operation at a time. `mse` and `cross_entropy`, the losses the algorithms use,
compute the same numbers through mlp_fast.py, whose gradients and Hessian-vector products are derived by
hand (tutorials/08-fast-gradients.md): autograd then records one step where it would record dozens
(see `make bench` for what that buys). Copied out without mlp_fast.py, this file still works: each loss
is then its reference (the same numbers, more slowly); copy mlp_fast.py along and write
`import mlp_fast` to keep the fast path.
"""
import autograd.numpy as np
from autograd.tracer import isbox

try:
    from tinymeta import mlp_fast
except ImportError:  # this file copied out alone: mse takes the plain path
    mlp_fast = None


def init(rng, sizes=(1, 40, 40, 1)):
    """Random parameters for an MLP with layer widths `sizes`, e.g. (1, 40, 40, 1).

    He (Kaiming) normal initialisation, W ~ N(0, 2 / n_in), and zero biases: with ReLU
    hidden layers this keeps the variance of the activations roughly constant from layer
    to layer (He et al. 2015), so the network starts neither flat nor exploding.
    `rng` is a numpy.random.Generator. Returns [W1, b1, W2, b2, ...] in float64.
    """
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
    if mlp_fast is None or isbox(x) or isbox(y):  # copied out alone, or differentiating w.r.t. the data
        return mse_reference(params, x, y)
    check(params, x, y)
    return mlp_fast.mse(x, y, *params)  # one autograd primitive


def array(a):
    """a as a float64 array, unless it is one already or autograd is tracing it (a box): lists become arrays."""
    return a if isbox(a) or isinstance(a, np.ndarray) else np.array(a, dtype=float)


def arrays(params):
    """The parameter list with every entry an array (see `array`)."""
    return [array(p) for p in params]


def check(params, x, y):
    """Raise a ValueError naming the shapes unless x is (..., K, n_in) and y (..., K, n_out) for the network's
    n_in and n_out (a hidden layer that does not fit its neighbours fails in numpy's matmul, which names it)."""
    n_in, n_out = np.shape(params[0])[-2:-1], np.shape(params[-1])[-1:]
    if len(params) % 2 or np.shape(x)[-1:] != n_in or np.shape(y) != np.shape(x)[:-1] + n_out:
        raise ValueError(f"params of shapes {[np.shape(p) for p in params]} must take x (..., K, n_in) to "
                         f"y (..., K, n_out), got x {np.shape(x)} and y {np.shape(y)}")


# ----- classification: softmax cross-entropy and accuracy (tutorials/12-classification.md) -----

def cross_entropy_reference(params, x, y):
    """Softmax cross-entropy per task, the mean over its K examples: x (..., K, n_in), y (..., K, N) one-hot
    labels (or any probabilities) -> shape x.shape[:-2]. The network's N outputs are logits z, and

        loss = log sum_j exp(z_j) - sum_j y_j z_j,

    the log-sum-exp taken as m + log sum_j exp(z_j - m) with m = max_j z_j, so that no exp overflows.
    Differentiated by autograd op by op (m drops out of the gradient): the definition of `cross_entropy`.
    """
    params, x, y = arrays(params), array(x), array(y)
    check(params, x, y)
    logits = predict(params, x)  # (..., K, N)
    top = np.max(logits, axis=-1, keepdims=True)  # (..., K, 1)
    log_sum_exp = top[..., 0] + np.log(np.sum(np.exp(logits - top), axis=-1))  # (..., K)
    return np.mean(log_sum_exp - np.sum(y * logits, axis=-1), axis=-1)


def cross_entropy(params, x, y):
    """Softmax cross-entropy per task: x (..., K, n_in), y (..., K, N) -> shape x.shape[:-2]. Same value as
    cross_entropy_reference; its gradient, softmax(z) - y per example over K, to any order from hand-derived
    backprop, as mse's. Lists are taken as arrays."""
    params, x, y = arrays(params), array(x), array(y)
    if mlp_fast is None or isbox(x) or isbox(y):  # copied out alone, or differentiating w.r.t. the data
        return cross_entropy_reference(params, x, y)
    check(params, x, y)
    return mlp_fast.cross_entropy(x, y, *params)  # one autograd primitive


def accuracy(params, x, y):
    """Fraction of a task's K examples whose largest output is at their label: x (..., K, n_in), y (..., K, N)
    one-hot -> shape x.shape[:-2]."""
    logits = predict(params, x)
    return np.mean(np.argmax(logits, axis=-1) == np.argmax(y, axis=-1), axis=-1)
