"""The meta-optimizer: Adam over a whole meta dict, through one flat vector.

A meta dict is any nest of dicts, lists and tuples of float64 arrays ({"params": [...], "lr": ...});
`flatten` lays it out as one vector (dict keys sorted, as autograd.misc.flatten does) so that Adam's
moments are two vectors, and puts a vector back into the same nest.
"""
import numpy as np


def flatten(tree):
    """(vector, unflatten): every array in a nest of dicts and lists, raveled into one float64 vector
    in autograd.misc.flatten's order (dict keys sorted), and the function that puts a vector back.
    Written out because autograd's version records itself for differentiation: a tenth of a
    meta-iteration (`make bench`)."""
    arrays = list(leaves(tree))
    ends = np.cumsum([a.size for a in arrays])[:-1]

    def unflatten(vector):
        parts = iter(a.reshape(b.shape) for a, b in zip(np.split(vector, ends), arrays))

        def build(t):
            if isinstance(t, dict):
                built = {k: build(t[k]) for k in sorted(t)}
                return {k: built[k] for k in t}  # in the order the dict had
            if isinstance(t, (list, tuple)):
                return type(t)(build(a) for a in t)
            return next(parts)
        return build(tree)
    return np.concatenate([a.ravel() for a in arrays]), unflatten


def leaves(tree):
    """The arrays of a nest of dicts (keys sorted) and lists, in order."""
    if isinstance(tree, dict):
        for k in sorted(tree):
            yield from leaves(tree[k])
    elif isinstance(tree, (list, tuple)):
        for t in tree:
            yield from leaves(t)
    else:
        yield np.asarray(tree, dtype=float)


def clip(grads, max_norm):
    """grads scaled down to Euclidean norm max_norm if longer (all arrays together): one batch with a huge
    meta-gradient then moves Adam's moments no more than a batch of norm max_norm would."""
    vector, unflatten = flatten(grads)
    with np.errstate(over="ignore"):
        norm = np.linalg.norm(vector)
    if norm <= max_norm:
        return grads
    if norm == np.inf:  # its square overflowed: take the direction from the vector in units of its largest entry
        vector = vector / np.max(np.abs(vector))
        norm = np.linalg.norm(vector)
    return unflatten(vector * (max_norm / norm))


def adam(meta, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step (Kingma & Ba 2015) on a whole meta dict; state = (t, m, v) over its flat vector."""
    theta, unflatten = flatten(meta)
    g, _ = flatten(grads)
    t, m, v = state
    t, m, v = t + 1, beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g ** 2
    step = lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return unflatten(theta - step), (t, m, v)
