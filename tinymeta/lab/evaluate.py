"""The meta-test protocol (Finn et al. 2017, sections 5.1 and 5.2): sinusoid regression here; Omniglot
classification in `classify` and `lake` below.

Draw fresh tasks, adapt from the meta-learned initialisation on K support points with the
algorithm's own inner update (for MAML: SGD with the run's inner learning rate), and after every
step count s = 0..steps report the mean MSE over tasks and its 95% confidence interval
1.96 * std / sqrt(n) (sample std, ddof=1), measured two ways: on K query points (Finn et al.'s
protocol, comparable with published tables) and on 100 evenly spaced points of [-5, 5] (the
whole curve, with less noise). All tasks are adapted at once along a leading task axis.

A task's adaptation has *diverged* after s steps if its query MSE is not finite or above DIVERGED
times its own query MSE before adapting (s = 0): adapting made it a hundred times worse than not
adapting at all. Every record counts those tasks; the median shows the typical task when a few
diverge and swamp the mean. Records hold plain numbers, or None (JSON null) where a mean, interval or
median is not a finite number, so that they stay valid JSON for strict parsers.

Classification: fresh tasks of the test characters (never trained on), adapted on their support drawings
the same way; after every step count, the mean accuracy on the query drawings and the mean cross-entropy,
each with its 95% interval over tasks; on Lake et al.'s 20 runs, the error rate over their 400 test images.
"""
import numpy as np

from tinymeta import mlp, omniglot, sinusoid
from tinymeta.lab import families
from tinymeta.lab.registry import ALGORITHMS

CHUNK = 20  # classification tasks drawn and adapted at once: each holds its own copy of the network

GRID = np.linspace(*sinusoid.X_RANGE, 100)
DIVERGED = 100


def evaluate(meta, algorithm, config, rng, shots, steps, n_tasks, queries=None, part="test"):
    """One record per step count 0..steps: dict(steps, mse_query, ci_query, mse_grid, ci_grid, tasks,
    median_query, diverged), the first five and median_query a float or None (not finite). For an Omniglot
    run, `classify`'s records, with `queries` query drawings per class (default: the run's) on the characters
    of `part` ("test", or "validation" to choose hyperparameters).

    meta: the meta-parameter dict; algorithm: an entry of registry.ALGORITHMS or its name ("maml");
    config: the run's configuration; rng: a numpy Generator for the test tasks (use
    train.task_stream(seed, "evaluate")). `train.load(run_dir)` gives (config, state, algorithm), and
    state["meta"] is meta.
    """
    if isinstance(algorithm, str):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")
        algorithm = ALGORITHMS[algorithm]
    if not hasattr(algorithm, "adapt"):
        raise ValueError(f"algorithm must be a name such as 'maml' or an entry of registry.ALGORITHMS, "
                         f"got {type(algorithm).__name__}")
    if not isinstance(meta, dict) or "params" not in meta:
        raise ValueError(f"meta must be the meta-parameter dict, {{'params': [W1, b1, ...], ...}} (state['meta'] "
                         f"of train.load), got {type(meta).__name__}")
    if not isinstance(config, dict):
        raise ValueError(f"config must be the run's configuration dict (train.load or train.make_config), "
                         f"got {type(config).__name__}")
    for name, value in (("shots", shots), ("tasks", n_tasks)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if families.problem(config) == "omniglot":
        return classify(meta, algorithm, config, rng, shots, queries or config["queries"], steps, n_tasks, part)
    tasks = sinusoid.sample_tasks(rng, n_tasks, shots, shots)
    x_grid = np.broadcast_to(GRID[:, None], (n_tasks, len(GRID), 1))  # (T, 100, 1)
    y_grid = sinusoid.sine(tasks.amplitude, tasks.phase, x_grid)
    records = []
    with np.errstate(all="ignore"):  # a diverging task overflows: it is counted, not warned about
        for s in range(steps + 1):
            fast = algorithm.adapt(meta, tasks.x_support, tasks.y_support, config, s)  # (T,) + p.shape
            query, grid = mlp.mse(fast, tasks.x_query, tasks.y_query), mlp.mse(fast, x_grid, y_grid)  # (T,) each
            unadapted = query if s == 0 else unadapted
            records.append(dict(steps=s, mse_query=finite(np.mean(query)), ci_query=ci95(query),
                                mse_grid=finite(np.mean(grid)), ci_grid=ci95(grid), tasks=int(n_tasks),
                                median_query=median(query), diverged=int(np.sum(diverged(query, unadapted)))))
    return records


def classify(meta, algorithm, config, rng, shots, queries, steps, n_tasks, part="test"):
    """Omniglot: one record per step count 0..steps, dict(steps, accuracy, ci_accuracy, loss, ci_loss, tasks),
    over n_tasks tasks of the test (or another part's) characters with `shots` support and `queries` query
    drawings per class.
    The tasks are drawn CHUNK at a time (`task_chunks`), so that memory stays bounded."""
    accuracy, loss = [], []  # (steps + 1, tasks of a chunk) per chunk
    for tasks in task_chunks(rng, config, shots, queries, n_tasks, part):
        a, l = scores(meta, algorithm, config, tasks, steps)
        accuracy.append(a)
        loss.append(l)
    accuracy, loss = np.concatenate(accuracy, axis=1), np.concatenate(loss, axis=1)  # (steps + 1, n_tasks)
    return [dict(steps=s, accuracy=finite(np.mean(accuracy[s])), ci_accuracy=ci95(accuracy[s]),
                 loss=finite(np.mean(loss[s])), ci_loss=ci95(loss[s]), tasks=int(n_tasks)) for s in range(steps + 1)]


def task_chunks(rng, config, shots, queries, n_tasks, part="test"):
    """The test tasks of classify, CHUNK at a time (the last chunk the rest): the same tasks for the same
    generator state, whatever is done with them (so the nearest-neighbour baseline sees MAML's tasks)."""
    for start in range(0, n_tasks, CHUNK):
        yield families.sample(rng, config, min(CHUNK, n_tasks - start), part, shots, queries)


def scores(meta, algorithm, config, tasks, steps):
    """(accuracy, cross-entropy) on the query drawings of every task after 0..steps adaptation steps on its
    support drawings: two arrays (steps + 1, T)."""
    accuracy, loss = [], []
    with np.errstate(all="ignore"):  # a diverging task overflows: its loss is inf or nan, its accuracy stays a number
        for s in range(steps + 1):
            fast = algorithm.adapt(meta, tasks.x_support, tasks.y_support, config, s)  # (T,) + p.shape
            accuracy.append(mlp.accuracy(fast, tasks.x_query, tasks.y_query))
            loss.append(mlp.cross_entropy(fast, tasks.x_query, tasks.y_query))
    return np.array(accuracy), np.array(loss)


def lake(meta, algorithm, config, steps):
    """Lake et al.'s one-shot task, scored as they score it: one record per step count 0..steps,
    dict(steps, error, wrong, trials), the fraction and number of the 400 test images (20 runs of 20-way
    1-shot classification) not given their training image's label. Needs a 20-way network."""
    tasks = omniglot.lake_tasks(omniglot.lake_runs())
    if config["ways"] != tasks.y_query.shape[-1]:
        raise ValueError(f"Lake's runs are {tasks.y_query.shape[-1]}-way: a network with {config['ways']} outputs "
                         f"cannot score them")
    accuracy, _ = scores(meta, algorithm, config, tasks, steps)
    return [lake_record(s, accuracy[s], tasks) for s in range(steps + 1)]


def lake_record(steps, accuracy, tasks):
    """The record of one step count from every run's accuracy on its test images."""
    trials = tasks.y_query.shape[0] * tasks.y_query.shape[1]  # runs x test images
    wrong = int(round(np.sum(1 - accuracy) * tasks.y_query.shape[1]))
    return dict(steps=steps, error=wrong / trials, wrong=wrong, trials=trials)


def nearest(config, rng, shots, queries, n_tasks):
    """The nearest-neighbour baseline (no learning) on the test tasks that classify draws from the same
    generator state: dict(accuracy, ci_accuracy, tasks); and on Lake's runs, lake_record(0, ...)."""
    accuracy = np.concatenate([np.mean(np.argmax(omniglot.nearest_neighbour(t.x_support, t.y_support, t.x_query), -1) ==
                                       np.argmax(t.y_query, -1), axis=-1)
                               for t in task_chunks(rng, config, shots, queries, n_tasks)])
    runs = omniglot.lake_tasks(omniglot.lake_runs())
    on_runs = np.mean(np.argmax(omniglot.nearest_neighbour(runs.x_support, runs.y_support, runs.x_query), -1) ==
                      np.argmax(runs.y_query, -1), axis=-1)
    return (dict(accuracy=finite(np.mean(accuracy)), ci_accuracy=ci95(accuracy), tasks=int(n_tasks)),
            lake_record(0, on_runs, runs))


def diverged(query, unadapted):
    """Which tasks' adaptation diverged: query MSE not finite or above DIVERGED x the task's MSE at step 0."""
    return ~np.isfinite(query) | (query > DIVERGED * unadapted)


def median(values):
    """The median over tasks, a diverged task (nan) counted as infinitely bad: the typical task when a
    few diverge and swamp the mean."""
    return finite(np.median(np.where(np.isnan(values), np.inf, values)))


def ci95(values):
    """Half-width of the normal 95% confidence interval of the mean: 1.96 * std / sqrt(n); None for one task,
    0 if all are equal (np.std of equal floats can be 1e-17, not 0)."""
    if len(values) < 2:
        return None
    if np.all(np.asarray(values) == values[0]):
        return 0.0
    return finite(1.96 * np.std(values, ddof=1) / np.sqrt(len(values)))


def finite(value):
    """A float, or None if it is nan or infinite (JSON has no such numbers)."""
    value = float(value)
    return value if np.isfinite(value) else None


def number(value, width=10):
    """A right-aligned number of fixed width: 4 decimals, scientific notation when large or small
    (1.234e+11, 3.000e-05), "n/a" for None (not a finite number)."""
    if value is None:
        return "n/a".rjust(width)
    return (f"{value:.4f}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.3e}").rjust(width)


def table(records, shots):
    """The records as a readable table: one row per step count, with the count of diverged tasks;
    below it, a line saying why wherever a number is missing (n/a)."""
    lines = [f"{'steps':>5}  {f'MSE on {shots} query points':>23}  {'MSE on 100 grid points':>23}  "
             f"{'median':>10}  diverged"]
    for r in records:
        lines.append(f"{r['steps']:>5}  {number(r['mse_query'])} ± {number(r['ci_query'])}  "
                     f"{number(r['mse_grid'])} ± {number(r['ci_grid'])}  {number(r['median_query'])}  "
                     f"{r['diverged']:>4} of {r['tasks']}")
    if any(r["tasks"] < 2 for r in records):
        lines.append("n/a after ±: an interval needs 2 test tasks or more (--tasks)")
    if any(r[k] is None for r in records for k in ("mse_query", "mse_grid", "median_query")) or \
            any(r[k] is None for r in records if r["tasks"] >= 2 for k in ("ci_query", "ci_grid")):
        lines.append("n/a: not a finite number, as some task's MSE is not (its adaptation diverged)")
    return "\n".join(lines)


def classification_table(records, shots, queries, ways):
    """classify's records as a table: accuracy and cross-entropy on the query drawings, ± the 95% interval."""
    lines = [f"{'steps':>5}  {f'accuracy on {ways * queries} queries':>23}  {'cross-entropy':>19}"]
    for r in records:
        lines.append(f"{r['steps']:>5}  {number(r['accuracy'], 14)} ± {number(r['ci_accuracy'], 6)}  "
                     f"{number(r['loss'])} ± {number(r['ci_loss'])}")
    if any(r["tasks"] < 2 for r in records):
        lines.append("n/a after ±: an interval needs 2 test tasks or more (--tasks)")
    if any(r["loss"] is None for r in records):
        lines.append("n/a: not a finite number, as some task's cross-entropy is not (its adaptation diverged)")
    return "\n".join(lines)


def lake_table(records):
    """lake's records as a table: the error rate on the 400 test images of Lake's runs after each step count."""
    lines = [f"{'steps':>5}  error on Lake's {records[0]['trials']} trials"]
    lines += [f"{r['steps']:>5}  {r['error']:.4f} ({r['wrong']} wrong)" for r in records]
    return "\n".join(lines)
