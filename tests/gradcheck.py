"""Central finite differences along random directions, in float64.

For a smooth f, (f(x + h v) - f(x - h v)) / 2h = <grad f(x), v> + O(h^2). ReLU networks are
smooth only piecewise: if a kink lies within h of x along v, the difference quotient is wrong
by O(1). So we also take the quotient at h/4; when the two disagree, f is not smooth along v
there and we draw a new direction. A wrong gradient disagrees with both quotients and fails.
"""
import numpy as np
from autograd.misc import flatten

H, TOL = 1e-4, 1e-6
LARGEST = {}  # name -> largest relative error seen, printed at the end of the test session


def directional_check(f, x, analytic_grad, rng, name, h=H, tol=TOL, tries=5):
    """Assert <analytic_grad, v> matches the central difference of f at x along random v.

    x and analytic_grad are any nesting of lists, tuples and dicts of float64 arrays.
    """
    flat_x, unflatten = flatten(x)
    flat_g, _ = flatten(analytic_grad)
    assert flat_x.dtype == np.float64 and flat_g.shape == flat_x.shape, (flat_x.dtype, flat_g.shape)
    for _ in range(tries):
        v = rng.standard_normal(flat_x.shape)
        v /= np.linalg.norm(v)

        def quotient(step):
            return (f(unflatten(flat_x + step * v)) - f(unflatten(flat_x - step * v))) / (2 * step)

        coarse, fine = quotient(h), quotient(h / 4)
        # floor for the scale: rounding noise in a quotient is about 1e-16 |f| / h
        scale = max(abs(coarse), abs(fine), 1e-6 * (1 + abs(f(x))))
        if abs(coarse - fine) <= tol * scale:  # f is smooth along v around x
            exact = float(flat_g @ v)
            error = abs(exact - fine) / max(abs(exact), scale)
            assert error <= tol, f"{name}: analytic {exact!r} vs finite difference {fine!r} (rel. error {error:.2e})"
            LARGEST[name] = max(LARGEST.get(name, 0.0), error)
            return error
    raise AssertionError(f"{name}: no smooth direction found in {tries} tries")
