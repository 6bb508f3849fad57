"""Check a gradient against central finite differences along random directions, in float64.

For a smooth f, (f(x + h v) - f(x - h v)) / 2h = <grad f(x), v> + O(h^2). ReLU networks are
smooth only piecewise: if a kink lies within h of x along v, the difference quotient is wrong
by O(1). So we also take the quotient at h/4; when the two disagree, f is not smooth along v
there and we draw a new direction. A wrong gradient disagrees with both quotients and fails.

x and the gradient may be any nesting of lists, tuples and dicts of float64 arrays (autograd's
parameter structures). Needs only numpy: copy this file next to your code and

    error = directional_check(f, x, my_grad(x), np.random.default_rng(0), directions=5)

raises an AssertionError if a direction disagrees and returns the worst relative error.
"""
import numpy as np

H, TOL = 1e-4, 1e-6


def flatten(x):
    """(vector, unflatten): the float64 arrays of a nesting of lists, tuples and dicts, one after
    another (dict entries by sorted key), and the function that puts a vector back into that shape."""
    if isinstance(x, (list, tuple, dict)):
        keys = sorted(x) if isinstance(x, dict) else range(len(x))
        parts = [flatten(x[k]) for k in keys]
        ends = np.cumsum([len(vector) for vector, _ in parts])

        def unflatten(vector):
            items = [back(vector[end - len(part):end]) for (part, back), end in zip(parts, ends)]
            return dict(zip(keys, items)) if isinstance(x, dict) else type(x)(items)
        return np.concatenate([vector for vector, _ in parts] or [np.zeros(0)]), unflatten
    a = np.asarray(x)
    if a.dtype != np.float64:
        raise ValueError(f"gradients are checked in float64, got a {a.dtype} array of shape {a.shape}")
    return a.ravel(), lambda vector: vector.reshape(a.shape)


def directional_error(f, x, analytic_grad, rng, h=H, tol=TOL, tries=5):
    """Relative error of <analytic_grad, v> against the central difference of f at x, along a random
    unit direction v on which f is smooth (the quotients at h and h/4 agree to tol).

    Returns (error, analytic, finite difference), or None if all `tries` directions crossed a kink.
    """
    flat_x, unflatten = flatten(x)
    flat_g, _ = flatten(analytic_grad)  # a gradient of another size fails in flat_g @ v, naming both sizes
    value = f(x)
    if np.ndim(value) != 0 or not np.isfinite(value):
        raise ValueError(f"f(x) must be a finite number, got {value!r}")
    for _ in range(tries):
        v = rng.standard_normal(flat_x.shape)
        v /= np.linalg.norm(v)

        def quotient(step):
            return (f(unflatten(flat_x + step * v)) - f(unflatten(flat_x - step * v))) / (2 * step)

        coarse, fine = quotient(h), quotient(h / 4)
        # floor for the scale: rounding noise in a quotient is about 1e-16 |f| / h
        scale = max(abs(coarse), abs(fine), 1e-6 * (1 + abs(value)))
        if abs(coarse - fine) <= tol * scale:  # f is smooth along v around x
            exact = float(flat_g @ v)
            return abs(exact - fine) / max(abs(exact), scale), exact, float(fine)
    return None


def directional_check(f, x, analytic_grad, rng, name="gradient", h=H, tol=TOL, tries=5, directions=1):
    """Assert that analytic_grad matches the central differences of f at x along `directions` random
    directions; return the worst relative error."""
    worst = 0.0
    for _ in range(directions):
        found = directional_error(f, x, analytic_grad, rng, h, tol, tries)
        if found is None:
            raise AssertionError(f"{name}: no smooth direction found in {tries} tries")
        error, exact, fine = found
        if not error <= tol:
            raise AssertionError(f"{name}: analytic {exact!r} vs finite difference {fine!r} (rel. error {error:.2e})")
        worst = max(worst, error)
    return worst
