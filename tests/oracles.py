"""For the tests of the MAML variants: slow, obvious versions of the inner loops (a Python loop over tasks,
one task's gradient at a time; the references `python -m tinymeta check` uses, imported from it), random
non-identity values of the learned meta-parameters, and the gradient check that records its largest errors."""
import numpy as np

from tinymeta import gradcheck
from tinymeta.lab.references import query_gradient, query_loss, trajectory  # noqa: F401  (the checker's references)

LARGEST = {}  # name -> the largest relative error a gradient check of that name has passed (conftest prints it)


def directional_check(f, x, analytic_grad, rng, name, **options):
    """gradcheck.directional_check, its worst error also kept in LARGEST[name] for the summary of the run."""
    error = gradcheck.directional_check(f, x, analytic_grad, rng, name, **options)
    LARGEST[name] = max(LARGEST.get(name, 0.0), error)
    return error


def kron_transform(pair, g):
    """(M_out^T kron M_in) vec G for one task's gradient G (n_in, n_out), vec stacking columns."""
    m_in, m_out = pair
    return (np.kron(m_out.T, m_in) @ g.flatten(order="F")).reshape(g.shape, order="F")


def rates(rng, shape):
    """Learned rates away from any constant: U[0.001, 0.1]."""
    return rng.uniform(0.001, 0.1, shape)


def curvature(rng, params):
    """Meta-Curvature values away from the identity: I + 0.1 noise pairs for weights, 1 + 0.1 noise else."""
    def near_identity(n):
        return np.eye(n) + 0.1 * rng.standard_normal((n, n))
    return [(near_identity(p.shape[0]), near_identity(p.shape[1])) if p.ndim == 2
            else 1 + 0.1 * rng.standard_normal(p.shape) for p in params]


def assert_close(a, b, tol=1e-12):
    """Lists of arrays equal up to tol relative to their size."""
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert np.shape(u) == np.shape(v), (np.shape(u), np.shape(v))
        assert np.max(np.abs(u - v), initial=0) <= tol * (1 + np.max(np.abs(v), initial=0))
