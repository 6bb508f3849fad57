"""The fast path of mlp.mse: the loss, its gradient and its Hessian-vector product derived by hand.

`mse(x, y, *params)` is one autograd primitive whose derivative is another primitive, `mse_grad`,
whose own derivative is `mse_hvp` (Pearlmutter's R-operator), so autograd records one step per loss
instead of one per operation, to any order. Derived step by step, and checked, in
tutorials/08-fast-gradients.md; mlp.mse is the way in (it checks shapes first). Written with
operators and array methods only (h @ W, a.sum(), a.swapaxes()): on plain arrays these are plain
NumPy calls, on autograd's boxes they are recorded, so the same lines serve both. ReLU'(0) is taken as 0.
"""
import autograd.numpy as np
from autograd.extend import defvjp_argnums, primitive


@primitive
def mse(x, y, *params):
    """Mean squared error per task as one autograd primitive: x (..., K, n_in), y (..., K, n_out) -> x.shape[:-2]."""
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
def mse_grad(g, x, y, *params):
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


def mse_hvp(g, x, y, params, V):
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


def mse_vjp(argnums, loss, args, kwargs):
    """VJP of mse: g -> the parameter gradients, themselves computed by a primitive (mse_grad)."""
    x, y, *params = args
    if min(argnums) < 2:  # not reached through mse, which takes the plain path for boxed x or y
        raise NotImplementedError("mlp_fast.mse: no gradient with respect to x or y; use mse_reference")
    return lambda g: _pick(mse_grad(g, x, y, *params), [i - 2 for i in argnums])


def mse_grad_vjp(argnums, grads, args, kwargs):
    """VJP of mse_grad: V -> (V . d grad / d g, H V); written in autograd.numpy, so it differentiates too."""
    g, x, y, *params = args
    if 1 in argnums or 2 in argnums:
        raise NotImplementedError("mlp_fast.mse_grad: no derivative with respect to x or y; use mse_reference")

    def vjp(V):
        hv, dg = mse_hvp(g, x, y, params, V)
        return [dg if i == 0 else hv[i - 3] for i in argnums]
    return vjp


def _pick(seq, indices):
    return [seq[i] for i in indices]


defvjp_argnums(mse, mse_vjp)
defvjp_argnums(mse_grad, mse_grad_vjp)
