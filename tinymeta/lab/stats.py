"""The statistics of the results tables beyond evaluate's records: two runs compared task by task on the same
test tasks, and how a number is printed in results/README.md and results/sinusoid.md.

A paired difference leaves out the tasks whose adaptation diverged in either run, each by evaluate's rule
against that run's own error before adapting, and says how many it left out.

Number formats, one rule each: a mean with its 95% interval, the interval to 2 significant digits and the mean
to the same decimal place (`mean_ci`: 0.614 ± 0.054, 0.0025 ± 0.0030, 2.81 ± 0.21); a number alone, 2
significant digits (`sig`: 0.0025, 0.25, 2.5, 32); a cell in which some test task diverged, the count and the
median task instead of the mean (`diverged_cell`: "diverged 3/1000, median 0.16"), since one diverged task
decides the mean (7.0e+04, or not a finite number at all).
"""
import numpy as np

from tinymeta import mlp, sinusoid
from tinymeta.lab import checkpoint, train
from tinymeta.lab.evaluate import ci95, diverged
from tinymeta.lab.protocol import TEST_SEED
from tinymeta.lab.registry import ALGORITHMS


def sig(value, digits=2):
    """`value` to `digits` significant digits, without an exponent below 1e4; None or not finite: "nan"."""
    if value is None or not np.isfinite(value):
        return "nan"
    if value == 0 or abs(value) >= 1e4:
        return f"{value:.{digits - 1}e}" if value else "0"
    rounded = float(f"{value:.{digits}g}")  # 0.0996 -> 0.1: the decimals are those of the rounded value
    return f"{rounded:.{max(0, digits - 1 - int(np.floor(np.log10(abs(rounded)))))}f}"


def mean_ci(mean, ci):
    """"mean ± ci": the interval to 2 significant digits, the mean to the same decimal place; without an
    interval (one task, or all equal: an interval at the mean's rounding error, 1e-16 of 20%), the mean to 2
    significant digits."""
    if mean is None or not np.isfinite(mean):
        return "nan"
    if not ci or not np.isfinite(ci) or ci < 1e-12 * abs(mean):
        return sig(mean)
    ci = float(f"{ci:.2g}")
    decimals = max(0, 1 - int(np.floor(np.log10(ci))))
    return f"{mean:.{decimals}f} ± {ci:.{decimals}f}"


def diverged_cell(diverged, tasks, median=None):
    """A cell in which `diverged` of `tasks` test tasks diverged: the count, and the median task if given."""
    return f"diverged {diverged}/{tasks}" + (f", median {sig(median)}" if median is not None else "")


def paired(mine, theirs, mine_before, theirs_before):
    """mine - theirs over the tasks that diverged in neither run, and how many tasks were left out.

    All four are per-task query errors of shape (n,): after adapting (mine, theirs) and before (step 0).
    """
    kept = ~diverged(mine, mine_before) & ~diverged(theirs, theirs_before)
    return mine[kept] - theirs[kept], int(np.sum(~kept))


def paired_summary(mine, theirs, mine_before, theirs_before):
    """{"mean", "ci", "left_out"} of the paired differences (see `paired`); mean and ci None below 2 tasks."""
    d, left_out = paired(mine, theirs, mine_before, theirs_before)
    enough = len(d) > 1
    return dict(mean=float(np.mean(d)) if enough else None, ci=ci95(d) if enough else None, left_out=left_out)


def paired_text(summary):
    """A paired difference as a table cell: "mean ± 95% half-width", and how many tasks were left out."""
    text = mean_ci(summary["mean"], summary["ci"]) if summary["mean"] is not None else "n/a"
    return text + (f" ({summary['left_out']} diverged tasks left out)" if summary["left_out"] else "")


def paired_row(mine, theirs):
    """The paired differences of two runs after each step count: mine and theirs are their per-task errors on
    the same test tasks, [before adapting, after s1 steps, after s2 steps, ...] (as per_task_errors gives
    them); a list of `paired_summary` dicts."""
    (mine_before, *mine_after), (theirs_before, *theirs_after) = mine, theirs
    return [paired_summary(a, b, mine_before, theirs_before) for a, b in zip(mine_after, theirs_after)]


def per_task_errors(run_dir, shots, steps, n_tasks):
    """Query MSE of every test task after each step count in `steps`: a list of (n_tasks,) arrays, from the
    run's meta.npz and config.json, on the test tasks evaluate draws."""
    config, meta = checkpoint.load_meta(run_dir)
    tasks = sinusoid.sample_tasks(train.task_stream(TEST_SEED, "evaluate"), n_tasks, shots, shots)
    with np.errstate(all="ignore"):  # a diverging task overflows: it is left out and counted, not warned about
        return [mlp.mse(ALGORITHMS[config["algorithm"]].adapt(meta, tasks.x_support, tasks.y_support, config, s),
                        tasks.x_query, tasks.y_query) for s in steps]
