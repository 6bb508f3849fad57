"""A tiny multilayer perceptron as pure functions over a flat list of float64 arrays.

params = [W1, b1, W2, b2, ...] with W of shape (n_in, n_out) and b of shape (n_out,).
Every array may carry the same extra leading task axes, (T, n_in, n_out) and (T, n_out),
so that one call evaluates T different networks on T different tasks at once.

`predict` and `mse_reference` are the model as you would write it; autograd differentiates them
one operation at a time. `mse`, the loss the algorithms use, computes the same numbers with its
gradient and Hessian-vector product derived by hand (tutorials/08-fast-gradients.md): autograd then
records one step where it would record dozens (see `make bench` for what that buys).
"""
import autograd.numpy as np
from autograd.extend import defvjp_argnums, primitive
from autograd.tracer import isbox


def init(rng, sizes=(1, 40, 40, 1)):
    """Random parameters for an MLP with layer widths `sizes`, e.g. (1, 40, 40, 1).

    He (Kaiming) normal initialisation, W ~ N(0, 2 / n_in), and zero biases: with ReLU
    hidden layers this keeps the variance of the activations roughly constant from layer
    to layer (He et al. 2015), so the network starts neither flat nor exploding.
    `rng` is a numpy.random.Generator. Returns [W1, b1, W2, b2, ...] in float64.
    """
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
    the parameters (or be absent from one of them, and broadcast).
    """
    check(params, x)
    h = x
    for W, b in zip(params[:-2:2], params[1:-2:2]):
        h = np.maximum(h @ W + b[..., None, :], 0.0)  # (..., K, n_hidden)
    return h @ params[-2] + params[-1][..., None, :]


def mse_reference(params, x, y):
    """Mean squared error per task, differentiated by autograd op by op: the definition of `mse`."""
    check(params, x, y)
    return np.mean((predict(params, x) - y) ** 2, axis=(-2, -1))


def mse(params, x, y):
    """Mean squared error per task: x (..., K, n_in), y (..., K, n_out) -> shape x.shape[:-2].

    Same value as mse_reference; its gradient (to any order) comes from hand-derived backprop.
    """
    params = list(params)  # read the arrays out of autograd's list once
    check(params, x, y)
    if isbox(x) or isbox(y):  # differentiating with respect to the data: the plain path
        return mse_reference(params, x, y)
    return _mse(x, y, *params)


# ----- the fast path: value, gradient and Hessian-vector product by hand -------------------------
# Derived step by step, and checked, in tutorials/08-fast-gradients.md. Written with operators and
# array methods only (h @ W, a.sum(), a.swapaxes()): on plain arrays these are plain NumPy calls, on
# autograd's boxes they are recorded, so the same lines serve both. ReLU'(0) is taken as 0.

@primitive
def _mse(x, y, *params):
    """mse as a single autograd primitive over the flat parameter list."""
    return ((forward(params, x)[2] - y) ** 2).mean(axis=(-2, -1))


def forward(params, x):
    """Every layer's input h_{l-1} and ReLU mask [z_l > 0], and the output z_L: what backprop reuses."""
    hs, masks, h = [], [], x
    for W, b in zip(params[0::2], params[1::2]):
        hs.append(h)
        z = h @ W + b[..., None, :]  # (..., K, n_out of this layer)
        masks.append(z > 0)
        h = z * masks[-1]
    return hs, masks[:-1], z  # the output layer is linear: its z is the output


@primitive
def _mse_grad(g, x, y, *params):
    """Backprop: the gradient of sum(g * mse(params, x, y)) with respect to every parameter.

    delta_L = c g (out - y) with c = 2 / (K n_out),   delta_{l-1} = (delta_l W_l^T) * mask_{l-1},
    dL/dW_l = h_{l-1}^T delta_l,   dL/db_l = sum over K of delta_l.   Returns a tuple like params.
    """
    hs, masks, out = forward(params, x)
    delta = _c(out) * _per_task(g) * (out - y)  # (..., K, n_out)
    grads = []
    for l in reversed(range(len(hs))):
        W = params[2 * l]
        grads += [_sum_to(delta.sum(axis=-2), params[2 * l + 1]), _sum_to(_t(hs[l]) @ delta, W)]
        if l:
            delta = (delta @ _t(W)) * masks[l - 1]
    return tuple(grads[::-1])


def _mse_hvp(g, x, y, params, V):
    """Hessian-vector product (Pearlmutter's R-operator): push V = (dW_l, db_l) forward, then back.

    dz_l = dh_{l-1} W_l + h_{l-1} dW_l + db_l,   dh_l = dz_l * mask_l,   dh_0 = 0 (x does not move);
    d delta_L = c g dz_L,   d delta_{l-1} = (d delta_l W_l^T + delta_l dW_l^T) * mask_{l-1};
    H V = (dh_{l-1}^T delta_l + h_{l-1}^T d delta_l,  sum over K of d delta_l).
    The gradient is linear in g, so its derivative along g is c sum over (K, n_out) of (out - y) dz_L.
    """
    hs, masks, out = forward(params, x)
    dhs = [None]  # dh_0 = 0
    for l in range(len(hs)):
        dz = hs[l] @ V[2 * l] + V[2 * l + 1][..., None, :]
        if l:
            dz = dz + dhs[l] @ params[2 * l]
        if l < len(masks):
            dhs.append(dz * masks[l])
    delta, ddelta = _c(out) * _per_task(g) * (out - y), _c(out) * _per_task(g) * dz
    hv = []
    for l in reversed(range(len(hs))):
        W = params[2 * l]
        dW = _t(hs[l]) @ ddelta
        if l:
            dW = dW + _t(dhs[l]) @ delta
        hv += [_sum_to(ddelta.sum(axis=-2), params[2 * l + 1]), _sum_to(dW, W)]
        if l:
            ddelta = (ddelta @ _t(W) + delta @ _t(V[2 * l])) * masks[l - 1]
            delta = (delta @ _t(W)) * masks[l - 1]
    dg = _c(out) * ((out - y) * dz).sum(axis=(-2, -1))
    return hv[::-1], _sum_to(dg, g)


def _c(out):
    """d mean(e^2) / de = c e for e of shape (..., K, n_out): c = 2 / (K n_out)."""
    return 2.0 / (out.shape[-2] * out.shape[-1])


def _per_task(g):
    """One weight per task, (...) -> (..., 1, 1), to broadcast against (..., K, n)."""
    return np.reshape(g, np.shape(g) + (1, 1))


def _t(a):
    """The per-task transpose: swap the last two axes."""
    return a.swapaxes(-1, -2)


def _sum_to(a, like):
    """Sum a over the axes that `like` broadcast along (missing leading axes, axes of length 1)."""
    while a.ndim > np.ndim(like):
        a = a.sum(axis=0)
    axes = tuple(i for i, n in enumerate(np.shape(like)) if n == 1 and a.shape[i] != 1)
    return a.sum(axis=axes, keepdims=True) if axes else a


def _mse_vjp(argnums, loss, args, kwargs):
    """VJP of _mse: g -> the parameter gradients, themselves computed by a primitive (_mse_grad)."""
    x, y, *params = args
    if min(argnums) < 2:  # not reached through mse, which takes the plain path for boxed x or y
        raise NotImplementedError("mlp._mse: no gradient with respect to x or y; use mse_reference")
    return lambda g: _pick(_mse_grad(g, x, y, *params), [i - 2 for i in argnums])


def _mse_grad_vjp(argnums, grads, args, kwargs):
    """VJP of _mse_grad: V -> (V . d grad / d g, H V); written in autograd.numpy, so it differentiates too."""
    g, x, y, *params = args
    if 1 in argnums or 2 in argnums:
        raise NotImplementedError("mlp._mse_grad: no derivative with respect to x or y; use mse_reference")

    def vjp(V):
        hv, dg = _mse_hvp(g, x, y, params, V)
        return [dg if i == 0 else hv[i - 3] for i in argnums]
    return vjp


def _pick(seq, indices):
    return [seq[i] for i in indices]


defvjp_argnums(_mse, _mse_vjp)
defvjp_argnums(_mse_grad, _mse_grad_vjp)


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
