"""The fast path of mlp.mse and mlp.cross_entropy: each loss, its gradient and its Hessian-vector product
derived by hand.

`loss(kind, x, y, *params)` is one autograd primitive whose derivative is another primitive, `loss_grad`,
whose own derivative is `loss_hvp` (Pearlmutter's R-operator), so autograd records one step per loss
instead of one per operation, to any order. The two losses share the network and so the forward pass,
backprop and its R-derivative; they differ only at the output z = z_L, in `kind`: the loss per task,
delta_L = d loss / d z, and d delta_L along dz (its R-derivative). Per task of K examples,

    MSE:            (1/(K n)) sum (z - y)^2,     delta_L = 2/(K n) (z - y),   d delta_L = 2/(K n) dz
    cross-entropy:  (1/K) sum_k [lse(z_k) - y_k . z_k],   delta_L = (p - y) / K,
                    d delta_L = (p dz - p (p . dz)) / K,   p = softmax(z) along the classes,

lse the log-sum-exp, computed max-shifted, and the cross-entropy's delta_L = p - y holds for any y (it is
-sum y log p when each y_k sums to 1, as one-hot labels do). Derived step by step, and checked, in
tutorials/08-fast-gradients.md; mlp.mse and mlp.cross_entropy are the way in (they check shapes first).
Written with operators and array methods only (h @ W, a.sum(), a.swapaxes()) and autograd.numpy: on plain
arrays these are plain NumPy calls, on autograd's boxes they are recorded, so the same lines serve both.
ReLU'(0) is taken as 0.
"""
from collections import namedtuple

import autograd.numpy as np
from autograd.extend import defvjp_argnums, primitive

Kind = namedtuple("Kind", "value delta d_delta")
Kind.__doc__ = """A loss at the network's output z (..., K, n_out): value(z, y) per task (...), delta(z, y) = d value / dz,
d_delta(z, y, dz) = the derivative of delta along dz."""

MSE = Kind(lambda z, y: ((z - y) ** 2).mean(axis=(-2, -1)),
           lambda z, y: 2.0 / (z.shape[-2] * z.shape[-1]) * (z - y),
           lambda z, y, dz: 2.0 / (z.shape[-2] * z.shape[-1]) * dz)


def log_sum_exp(z):
    """log sum_j exp(z_j) along the last axis, as m + log sum_j exp(z_j - m), m = max_j z_j: no exp overflows."""
    top = z.max(axis=-1, keepdims=True)
    return top[..., 0] + np.log(np.exp(z - top).sum(axis=-1))


def softmax(z):
    """exp(z_j) / sum_i exp(z_i) along the last axis, max-shifted like log_sum_exp."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _cross_entropy_d_delta(z, y, dz):
    """(d softmax(z) along dz) / K: softmax's Jacobian is diag(p) - p p^T."""
    p = softmax(z)
    return (p * dz - p * (p * dz).sum(axis=-1, keepdims=True)) / z.shape[-2]


CROSS_ENTROPY = Kind(lambda z, y: (log_sum_exp(z) - (y * z).sum(axis=-1)).mean(axis=-1),
                     lambda z, y: (softmax(z) - y) / z.shape[-2],
                     _cross_entropy_d_delta)


@primitive
def loss(kind, x, y, *params):
    """The loss per task as one autograd primitive: x (..., K, n_in), y (..., K, n_out) -> x.shape[:-2]."""
    return kind.value(forward(params, x)[2], y)


def mse(x, y, *params):
    """Mean squared error per task: loss(MSE, ...)."""
    return loss(MSE, x, y, *params)


def cross_entropy(x, y, *params):
    """Softmax cross-entropy per task, the mean over its K examples: loss(CROSS_ENTROPY, ...)."""
    return loss(CROSS_ENTROPY, x, y, *params)


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
def loss_grad(kind, g, x, y, *params):
    """Backprop: the gradient of sum(g * loss(kind, x, y, *params)) with respect to every parameter.

    delta_L = g kind.delta(z_L, y),   delta_{l-1} = (delta_l W_l^T) * mask_{l-1},
    dL/dW_l = h_{l-1}^T delta_l,   dL/db_l = sum over K of delta_l.   Returns a tuple like params.
    """
    hs, masks, out = forward(params, x)
    delta = _per_task(g) * kind.delta(out, y)  # (..., K, n_out)
    grads = []
    for l in reversed(range(len(hs))):
        W = params[2 * l]
        grads += [_sum_to(delta.sum(axis=-2), params[2 * l + 1]), _sum_to(_t(hs[l]) @ delta, W)]
        if l:
            delta = (delta @ _t(W)) * masks[l - 1]
    return tuple(grads[::-1])


def mse_grad(g, x, y, *params):
    """The gradient of sum(g * mse(x, y, *params)): loss_grad(MSE, ...)."""
    return loss_grad(MSE, g, x, y, *params)


def loss_hvp(kind, g, x, y, params, V):
    """Hessian-vector product (Pearlmutter's R-operator): push V = (dW_l, db_l) forward, then back.

    dz_l = dh_{l-1} W_l + h_{l-1} dW_l + db_l,   dh_l = dz_l * mask_l,   dh_0 = 0 (x does not move);
    d delta_L = g kind.d_delta(z_L, y, dz_L),   d delta_{l-1} = (d delta_l W_l^T + delta_l dW_l^T) * mask_{l-1};
    H V = (dh_{l-1}^T delta_l + h_{l-1}^T d delta_l,  sum over K of d delta_l).
    The gradient is linear in g, so its derivative along g is sum over (K, n_out) of kind.delta(z_L, y) dz_L.
    """
    hs, masks, out = forward(params, x)
    dhs = [None]  # dh_0 = 0
    for l in range(len(hs)):
        dz = hs[l] @ V[2 * l] + V[2 * l + 1][..., None, :]
        if l:
            dz = dz + dhs[l] @ params[2 * l]
        if l < len(masks):
            dhs.append(dz * masks[l])
    out_delta = kind.delta(out, y)  # (..., K, n_out), before weighting by g
    delta, ddelta = _per_task(g) * out_delta, _per_task(g) * kind.d_delta(out, y, dz)
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
    return hv[::-1], _sum_to((out_delta * dz).sum(axis=(-2, -1)), g)


def mse_hvp(g, x, y, params, V):
    """H V and the derivative along g for the mean squared error: loss_hvp(MSE, ...)."""
    return loss_hvp(MSE, g, x, y, params, V)


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


def loss_vjp(argnums, value, args, kwargs):
    """VJP of loss: g -> the parameter gradients, themselves computed by a primitive (loss_grad)."""
    kind, x, y, *params = args
    if min(argnums) < 3:  # not reached through mlp's losses, which take the plain path for boxed x or y
        raise NotImplementedError("mlp_fast.loss: no gradient with respect to x or y; use mlp's *_reference")
    return lambda g: _pick(loss_grad(kind, g, x, y, *params), [i - 3 for i in argnums])


def loss_grad_vjp(argnums, grads, args, kwargs):
    """VJP of loss_grad: V -> (V . d grad / d g, H V); written in autograd.numpy, so it differentiates too."""
    kind, g, x, y, *params = args
    if 2 in argnums or 3 in argnums:
        raise NotImplementedError("mlp_fast.loss_grad: no derivative with respect to x or y; use mlp's *_reference")

    def vjp(V):
        hv, dg = loss_hvp(kind, g, x, y, params, V)
        return [dg if i == 1 else hv[i - 4] for i in argnums]
    return vjp


def _pick(seq, indices):
    return [seq[i] for i in indices]


defvjp_argnums(loss, loss_vjp)
defvjp_argnums(loss_grad, loss_grad_vjp)
