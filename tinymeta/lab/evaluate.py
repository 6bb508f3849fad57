"""The meta-test protocol (Finn et al. 2017, section 5.1) for sinusoid regression.

Draw fresh tasks, adapt from the meta-learned initialisation on K support points with the
algorithm's own inner update (for MAML: SGD with the run's inner learning rate), and after every
step count s = 0..steps report the mean MSE over tasks and its 95% confidence interval
1.96 * std / sqrt(n) (sample std, ddof=1), measured two ways: on K query points (Finn et al.'s
protocol, comparable with published tables) and on 100 evenly spaced points of [-5, 5] (the
whole curve, with less noise). All tasks are adapted at once along a leading task axis.
"""
import numpy as np

from tinymeta import mlp, sinusoid

GRID = np.linspace(*sinusoid.X_RANGE, 100)


def evaluate(meta, algorithm, config, rng, shots, steps, n_tasks):
    """One record per step count 0..steps: dict(steps, mse_query, ci_query, mse_grid, ci_grid, tasks,
    median_query).

    meta: the meta-parameter dict; algorithm: an entry of registry.ALGORITHMS; config: the run's
    configuration; rng: a numpy Generator for the test tasks (use train.task_stream(seed, "evaluate")).
    """
    for name, value in (("shots", shots), ("tasks", n_tasks)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    tasks = sinusoid.sample_tasks(rng, n_tasks, shots, shots)
    x_grid = np.broadcast_to(GRID[:, None], (n_tasks, len(GRID), 1))  # (T, 100, 1)
    y_grid = sinusoid.sine(tasks.amplitude, tasks.phase, x_grid)
    records = []
    for s in range(steps + 1):
        fast = algorithm.adapt(meta, tasks.x_support, tasks.y_support, config, s)  # (T,) + p.shape
        query, grid = mlp.mse(fast, tasks.x_query, tasks.y_query), mlp.mse(fast, x_grid, y_grid)  # (T,) each
        records.append(dict(steps=s, mse_query=float(np.mean(query)), ci_query=ci95(query),
                            mse_grid=float(np.mean(grid)), ci_grid=ci95(grid), tasks=int(n_tasks),
                            median_query=median(query)))
    return records


def median(values):
    """The median over tasks, a diverged task (nan) counted as infinitely bad: the typical task when a
    few diverge and swamp the mean."""
    return float(np.median(np.where(np.isnan(values), np.inf, values)))


def ci95(values):
    """Half-width of the normal 95% confidence interval of the mean: 1.96 * std / sqrt(n)."""
    if len(values) < 2:
        return float("nan")
    return float(1.96 * np.std(values, ddof=1) / np.sqrt(len(values)))


def table(records, shots):
    """The records as a readable table: one row per step count."""
    lines = [f"{'steps':>5}  {f'MSE on {shots} query points':>26}  {'MSE on 100 grid points':>26}"]
    for r in records:
        lines.append(f"{r['steps']:>5}  {r['mse_query']:>16.4f} ± {r['ci_query']:<7.4f}  "
                     f"{r['mse_grid']:>16.4f} ± {r['ci_grid']:.4f}")
    return "\n".join(lines)
