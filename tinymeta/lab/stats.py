"""The statistics of the results table beyond evaluate's records: two runs compared task by task on the same
test tasks, and how a number is printed in results/sinusoid.md.

A paired difference leaves out the tasks whose adaptation diverged in either run, each by evaluate's rule
against that run's own error before adapting, and says how many it left out.
"""
import numpy as np

from tinymeta import mlp, sinusoid
from tinymeta.lab import checkpoint, train
from tinymeta.lab.evaluate import ci95, diverged
from tinymeta.lab.protocol import TEST_SEED
from tinymeta.lab.registry import ALGORITHMS


def number(value):
    """3 decimals (2 significant digits below 0.01); scientific notation for the huge errors of an adaptation
    that diverged; None is nan."""
    if value is None:
        return "nan"
    if abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.1e}"


def paired(mine, theirs, mine_before, theirs_before):
    """mine - theirs over the tasks that diverged in neither run, and how many tasks were left out.

    All four are per-task query errors of shape (n,): after adapting (mine, theirs) and before (step 0).
    """
    kept = ~diverged(mine, mine_before) & ~diverged(theirs, theirs_before)
    return mine[kept] - theirs[kept], int(np.sum(~kept))


def paired_cell(mine, theirs, mine_before, theirs_before):
    """"mean ± 95% half-width" of the paired differences (see `paired`), and how many tasks were left out."""
    d, left_out = paired(mine, theirs, mine_before, theirs_before)
    text = f"{number(float(np.mean(d)))} ± {number(ci95(d))}" if len(d) > 1 else "n/a"
    return text + (f" ({left_out} diverged tasks left out)" if left_out else "")


def paired_row(mine, theirs):
    """The cells of one row of paired differences: mine and theirs are two runs' per-task errors on the same
    test tasks, [before adapting, after s1 steps, after s2 steps, ...] (as per_task_errors gives them)."""
    (mine_before, *mine_after), (theirs_before, *theirs_after) = mine, theirs
    return [paired_cell(a, b, mine_before, theirs_before) for a, b in zip(mine_after, theirs_after)]


def per_task_errors(run_dir, shots, steps, n_tasks):
    """Query MSE of every test task after each step count in `steps`: a list of (n_tasks,) arrays, from the
    run's meta.npz and config.json, on the test tasks evaluate draws."""
    config, meta = checkpoint.load_meta(run_dir)
    tasks = sinusoid.sample_tasks(train.task_stream(TEST_SEED, "evaluate"), n_tasks, shots, shots)
    with np.errstate(all="ignore"):  # a diverging task overflows: it is left out and counted, not warned about
        return [mlp.mse(ALGORITHMS[config["algorithm"]].adapt(meta, tasks.x_support, tasks.y_support, config, s),
                        tasks.x_query, tasks.y_query) for s in steps]
