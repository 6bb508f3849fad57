"""The random cases of `python -m tinymeta check`: a small ReLU MLP, regression tasks, a step count and a rate,
each rebuilt from its seed by `draw(seed)`; learned meta-parameters away from their initial values; and the
settings of algorithms that have their own (iMAML's pull and rates, CAVIA's contexts).
"""
import functools
from collections import namedtuple

import autograd.numpy as np

from tinymeta import mlp
from tinymeta.lab.references import loss_hessian
from tinymeta.sinusoid import Tasks

Case = namedtuple("Case", "seed sizes steps inner_lr params tasks rng settings")


def draw(seed):
    """Case `seed`: an MLP of 1-3 inputs, 1-2 hidden layers of 1-8 units and 1-2 outputs (biases
    nonzero, so that no unit sits exactly on its kink), 1-4 tasks with 1-5 support and 1-5 query points,
    1-3 inner steps and an inner rate in [0.001, 0.1]. case.rng goes on to draw learned meta-parameters
    and directions; case.settings, empty here, holds an algorithm's own settings (its `prepare`)."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    sizes = (n_in, *(int(n) for n in rng.integers(1, 9, size=rng.integers(1, 3))), n_out)
    n_tasks, k_support, k_query = (int(n) for n in rng.integers(1, (5, 6, 6)))
    steps, inner_lr = int(rng.integers(1, 4)), float(rng.uniform(0.001, 0.1))
    params = [p + 0.1 * rng.standard_normal(p.shape) for p in mlp.init(rng, sizes)]
    tasks = Tasks(rng.uniform(-2, 2, (n_tasks, k_support, n_in)), rng.normal(size=(n_tasks, k_support, n_out)),
                  rng.uniform(-2, 2, (n_tasks, k_query, n_in)), rng.normal(size=(n_tasks, k_query, n_out)),
                  None, None)
    return Case(seed, sizes, steps, inner_lr, params, tasks, rng, {})


def describe(case):
    n_tasks, k_support, _ = case.tasks.x_support.shape
    return (f"seed {case.seed}, sizes {case.sizes}, {n_tasks} task{'s' * (n_tasks > 1)}, K {k_support}, "
            f"Q {case.tasks.x_query.shape[1]}, {case.steps} step{'s' * (case.steps > 1)}, "
            f"inner_lr {case.inner_lr:.4g}"
            + "".join(f", {name} {value:.4g}" for name, value in case.settings.items()))


def smallness(case):
    """The order in which failing cases are shown: fewest steps, then fewest weights, tasks and points."""
    n_tasks, k_support, _ = case.tasks.x_support.shape
    return (case.steps, sum(p.size for p in case.params), n_tasks, k_support + case.tasks.x_query.shape[1],
            case.seed)


def support(case):
    return case.tasks.x_support, case.tasks.y_support


def rates(case, shape):
    """Learned rates away from any constant: U[0.001, 0.1]."""
    return case.rng.uniform(0.001, 0.1, shape)


def curvature(case):
    """Meta-Curvature away from the identity: I + 0.1 noise pairs for weights, 1 + 0.1 noise for biases."""
    def near_identity(n):
        return np.eye(n) + 0.1 * case.rng.standard_normal((n, n))
    return [(near_identity(p.shape[0]), near_identity(p.shape[1])) if p.ndim == 2
            else 1 + 0.1 * case.rng.standard_normal(p.shape) for p in case.params]


def identity_curvature(params):
    return [(np.eye(q.shape[0]), np.eye(q.shape[1])) if q.ndim == 2 else np.ones(q.shape) for q in params]


@functools.lru_cache(maxsize=None)
def largest_curvature(seed):
    """The largest |eigenvalue| of case `seed`'s support-loss Hessians at its weights, or 1 if that is larger
    (computed once per seed: every iMAML property asks)."""
    case = draw(seed)
    return max([1.0] + [float(np.max(np.abs(np.linalg.eigvalsh(loss_hessian(case.params, x, y)))))
                        for x, y in zip(*support(case))])


def imaml_case(case):
    """iMAML's case: reg four times the support losses' largest curvature at theta, so that near theta
    I + H/reg has eigenvalues in [0.75, 1.25] (positive definite, and CG converges fast), and an inner rate
    of 1 / (reg + largest curvature), at which the regularised steps contract toward phi; or, in one case in
    three, 1.5 to 2 times plain steps' stability limit 2 / (reg + largest curvature) and a step more, at which
    some task's step gets refused, its rate halved and its next step taken. The Newton properties' rate,
    settings["newton_lr"]: 1, the full Newton step, or in those cases 3, which on a quadratic F raises F (past
    rate 2 a Newton step does) and halves to 1.5."""
    largest = largest_curvature(case.seed)
    reg, limit = 4 * largest, 2 / (5 * largest)
    if case.rng.uniform() < 1 / 3:
        return case._replace(steps=case.steps + 1, inner_lr=case.rng.uniform(1.5, 2) * limit,
                             settings={"reg": reg, "newton_lr": 3.0})
    return case._replace(inner_lr=limit / 2, settings={"reg": reg, "newton_lr": 1.0})


def weak_pull(case):
    """An iMAML case on which a guard that compares with the wrong value lets an objective rise: reg a quarter of
    the largest curvature, so that the objective's curvatures spread from below reg to reg + that curvature;
    6 steps; a gradient rate 1.2 times plain steps' stability limit and a Newton rate of 1.9. A task's
    objective first falls far below its value at theta, along the flat directions, then a step overshoots
    along the sharpest one and would raise it."""
    largest = largest_curvature(case.seed)
    reg = largest / 4
    return case._replace(steps=6, inner_lr=1.2 * 2 / (reg + largest), settings={"reg": reg, "newton_lr": 1.9})


def cavia_case(case):
    """CAVIA's case: 1-3 context numbers, which the network takes as that many more inputs (standard normal
    rows appended to its first weight matrix)."""
    n_context, W1 = int(case.rng.integers(1, 4)), case.params[0]
    params = [np.vstack([W1, case.rng.standard_normal((n_context, W1.shape[1]))])] + case.params[1:]
    return case._replace(sizes=(case.sizes[0] + n_context, *case.sizes[1:]), params=params,
                         settings={"n_context": n_context})
