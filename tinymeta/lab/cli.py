"""python -m tinymeta train | evaluate | plot | nearest | demo | bench | check: the command line.

Bad input (a bad value, a path that cannot be written, a run too large for memory) gets one line on
stderr naming it and exit status 2; a diverged run, and nothing else, exits with 1; Ctrl-C (SIGINT)
during training saves a checkpoint and exits with 130, SIGTERM (kill, timeout) likewise with 143
(128 + the signal's number, the shell's convention).
"""
import argparse
import importlib
import json
import os
import signal
import sys

from tinymeta import omniglot
from tinymeta.lab import checkpoint, families, malloc, train
from tinymeta.lab.evaluate import classification_table, evaluate, lake, lake_table, nearest, number, table
from tinymeta.lab.flags import Parser, boolean, nonnegative_int, positive_float, positive_int
from tinymeta.lab.registry import ALGORITHMS

DEMO_ITERATIONS = 5000
LAKE_WAYS = 20  # Lake et al.'s runs are 20-way
OMNIGLOT_STEPS = 3  # evaluate's steps for Omniglot runs: Finn et al. test after 3 steps; each step count is adapted anew
OPTION_HELP = {  # the --flags made from registry.ALGORITHMS' options
    "first_order_iterations": "first-order meta-gradients for the first N iterations, then exact "
                              "(MAML++ derivative-order annealing)",
    "msl_iterations": "the MAML++ multi-step loss, its step weights annealed, for the first N iterations "
                      "(needs --inner-steps 2 or more)",
    "reg": "the pull (reg/2)||phi - theta||^2 of iMAML's inner problem toward the initialisation",
    "cg_steps": "conjugate-gradient steps of iMAML's implicit meta-gradient (1 or more)",
    "newton_cg": "0: iMAML's inner steps are gradient steps; N > 0: Newton steps, each by N conjugate-gradient "
                 "steps (the paper's Hessian-free solver; --inner-lr 1 is the full Newton step)",
    "n_context": "context numbers appended to every input, the only thing CAVIA's inner loop adapts",
}


def option_type(default):
    """The --flag type of an algorithm option, from its default value."""
    return {bool: boolean, int: nonnegative_int, float: positive_float}.get(type(default), str)


def parser():
    d, o = train.DEFAULTS, train.OMNIGLOT

    def both(key):  # a default of each family, for the help
        return f"default {d[key]}; omniglot {o[key]}" if d[key] != o[key] else f"default {d[key]}"

    top = Parser(prog="tinymeta", description="Meta-learning on few-shot sinusoid regression and Omniglot classification.")
    sub = top.add_subparsers(dest="command", required=True, metavar="{train,evaluate,plot,nearest,demo,bench,check}")

    p = sub.add_parser("train", help="meta-train a network (or continue a run with --resume DIR)",
                       description="Meta-train on sinusoid tasks or, with --problem omniglot, on N-way K-shot "
                                   "Omniglot tasks; defaults are Finn et al. 2017's.")
    p.add_argument("algorithm", nargs="?", choices=list(ALGORITHMS), metavar="ALGO",
                   help=f"one of {', '.join(ALGORITHMS)}")
    p.add_argument("--problem", choices=families.PROBLEMS, help="the task family: sinusoid regression (default) or "
                   "omniglot, few-shot classification of handwritten characters")
    p.add_argument("--ways", metavar="N", type=positive_int, help=f"omniglot: classes per task (default {o['ways']})")
    p.add_argument("--shots", metavar="K", type=positive_int,
                   help=f"support (and query) points per task; omniglot: support drawings per class ({both('shots')})")
    p.add_argument("--queries", metavar="Q", type=positive_int,
                   help="omniglot: query drawings per class (default: as many as --shots)")
    p.add_argument("--background", choices=list(families.BACKGROUNDS), help="omniglot: meta-train on every character "
                   "of this minimal background set (or both), holding none out, to be tested on Lake et al.'s runs "
                   "(default: a split of both sets into training, validation and test characters)")
    p.add_argument("--with-validation", action="store_true", default=None, help="omniglot: meta-train on the "
                   "split's validation characters too, once the settings are chosen (170 characters instead of 146)")
    p.add_argument("--rotate", metavar="BOOL", type=boolean, help="omniglot: turn each training class by a random "
                   f"multiple of 90 degrees, four classes from each character (default {str(o['rotate']).lower()})")
    p.add_argument("--meta-batch", metavar="T", type=positive_int, help=f"tasks per meta-update ({both('meta_batch')})")
    p.add_argument("--inner-lr", metavar="LR", type=positive_float, help=f"inner-loop learning rate ({both('inner_lr')})")
    p.add_argument("--inner-steps", metavar="S", type=positive_int, help=f"inner-loop SGD steps ({both('inner_steps')})")
    p.add_argument("--meta-lr", metavar="LR", type=positive_float, help=f"Adam learning rate ({both('meta_lr')})")
    p.add_argument("--clip", metavar="NORM", type=positive_float,
                   help="scale every meta-gradient down to at most this norm before Adam (default: no clipping)")
    p.add_argument("--cosine", action="store_true", default=None,
                   help="anneal the Adam rate from --meta-lr toward 0 along a cosine (MAML++)")
    p.add_argument("--hidden", metavar="W", type=positive_int, nargs="+", help=f"hidden layer widths ({both('hidden')})")
    p.add_argument("--seed", metavar="SEED", type=nonnegative_int, help=f"seed of the training tasks and initialisation (default {d['seed']})")
    options = {}  # every algorithm's extra options become flags too
    for name, algorithm in ALGORITHMS.items():
        for option, default in (algorithm.options or {}).items():
            options.setdefault(option, (default, []))[1].append(name)
    for option, (default, owners) in options.items():
        about = OPTION_HELP[option] + "; " if option in OPTION_HELP else ""
        p.add_argument("--" + option.replace("_", "-"), type=option_type(default), metavar="N" if type(default) is int else None,
                       help=f"{about}{', '.join(owners)} only (default {default})")
    p.add_argument("--iterations", metavar="N", type=positive_int, help=f"meta-updates in total ({both('iterations')})")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/ALGO)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR to --iterations in total")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    p = sub.add_parser("evaluate", help="meta-test a run: MSE, or accuracy, after 0..steps adaptation steps",
                       description="Fresh test tasks (never seen in training), adapted from the run's "
                                   "meta-learned initialisation; mean MSE and 95% CI per step count; for an "
                                   "Omniglot run, accuracy and cross-entropy on the test characters, and a "
                                   "20-way run's error on Lake et al.'s 20 one-shot runs.")
    p.add_argument("run_dir", metavar="DIR")
    p.add_argument("--shots", type=positive_int, help="support and query points per test task; omniglot: support "
                   "drawings per class (default: the run's)")
    p.add_argument("--queries", type=positive_int, help="omniglot: query drawings per class (default: the run's)")
    p.add_argument("--steps", type=nonnegative_int, help="adaptation steps, 0 for none (default 10; omniglot "
                   f"{OMNIGLOT_STEPS}, as Finn et al. test)")
    p.add_argument("--tasks", type=positive_int, default=1000, help="test tasks (default 1000)")
    p.add_argument("--seed", type=nonnegative_int, default=1, help="seed of the test tasks (default 1)")
    p.add_argument("--json", action="store_true", help="one JSON record per step count instead of a table (omniglot: "
                   "{\"test_tasks\": [...], \"lake_runs\": [...] or null})")

    p = sub.add_parser("plot", help="draw test-task fits and the meta-training curve of a run")
    p.add_argument("run_dir", metavar="DIR")
    p.add_argument("--out", metavar="FILE.png", help="where to save the figure, its type from the suffix "
                   "(.png, .pdf, .svg, ...; default DIR/plot.png)")
    p.add_argument("--seed", type=nonnegative_int, default=1, help="seed of the test tasks drawn (default 1)")

    p = sub.add_parser("nearest", help="the baseline that learns nothing: nearest neighbour in pixel space on "
                       "Omniglot test tasks and Lake's runs", description="Each query drawing gets the label of "
                       "the support drawing nearest to it in pixel space, on the test tasks `evaluate` draws "
                       "with the same seed, and on Lake et al.'s 20 one-shot runs.")
    p.add_argument("--ways", type=positive_int, default=o["ways"], help=f"classes per task (default {o['ways']})")
    p.add_argument("--shots", type=positive_int, default=o["shots"], help=f"support drawings per class (default {o['shots']})")
    p.add_argument("--queries", type=positive_int, help="query drawings per class (default: as many as --shots)")
    p.add_argument("--tasks", type=positive_int, default=1000, help="test tasks (default 1000)")
    p.add_argument("--seed", type=nonnegative_int, default=1, help="seed of the test tasks (default 1)")
    p.add_argument("--json", action="store_true", help="the records as JSON instead of a table")

    p = sub.add_parser("demo", help="train MAML 10-shot briefly, evaluate, plot (what `make demo` runs)")
    p.add_argument("--out", default=os.path.join("runs", "demo"), help="run folder (default runs/demo)")
    p.add_argument("--iterations", type=positive_int, default=DEMO_ITERATIONS,
                   help=f"meta-updates (default {DEMO_ITERATIONS})")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    sub.add_parser("bench", help="speed benchmarks (tinymeta/lab/bench.py; arguments are passed on)", add_help=False)
    sub.add_parser("check", help="tinymeta's property battery on your own version of an algorithm: check ALGO FILE.py",
                   add_help=False)
    return top


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    if argv[:1] == ["check"]:  # matplotlib-free, and its own argument parser
        from tinymeta.lab import check
        return check.main(argv[1:])
    args = parser().parse_args(argv)
    try:
        return {"train": do_train, "evaluate": do_evaluate, "plot": do_plot, "nearest": do_nearest,
                "demo": do_demo}[args.command](args)
    except (checkpoint.CheckpointError, train.ConfigError, OSError) as e:  # OSError: a path that cannot be written
        print(f"tinymeta {args.command}: error: {e}", file=sys.stderr)
        return 2
    except MemoryError as e:  # where no more particular message was made (train and evaluate make one)
        print(f"tinymeta {args.command}: error: out of memory ({e or 'MemoryError'})", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # a diverged run, and only that
        print(f"tinymeta {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # train.Stopped (SIGINT or SIGTERM, checkpoint saved), or Ctrl-C elsewhere
        print(f"\ntinymeta {args.command}: {e or 'interrupted'}", file=sys.stderr)
        return 128 + getattr(e, "signum", signal.SIGINT)


def do_train(args):
    malloc.keep_freed_memory()  # a long loop: keep freed memory for reuse (lab/malloc.py)
    given = {k: v for k, v in vars(args).items()
             if v is not None and k not in ("command", "algorithm", "out", "resume", "quiet")}
    if args.resume is not None:
        extra = sorted(set(given) - {"iterations"}) + (["ALGO"] if args.algorithm else []) + (["--out"] if args.out else [])
        if extra:
            raise train.ConfigError(f"--resume continues {args.resume} as configured in its config.json; "
                                    f"only --iterations and --quiet may be given, not {', '.join(extra)}")
        iterations = given.get("iterations") or train.load(args.resume)[0]["iterations"]
        train.run(args.resume, iterations, args.quiet)
        return 0
    if args.algorithm is None:
        raise train.ConfigError("give an algorithm (one of " + ", ".join(ALGORITHMS) + ") or --resume DIR")
    config = train.make_config(args.algorithm, **given)
    out = os.path.join("runs", args.algorithm) if args.out is None else folder(args.out)
    if os.path.exists(os.path.join(out, "checkpoint.npz")):
        raise train.ConfigError(f"{out} already holds a run: continue it with --resume {out}, or choose another --out")
    made = not os.path.exists(out)
    try:
        train.start(out, config)
        train.run(out, config["iterations"], args.quiet)
    except MemoryError as e:  # in start: the network itself does not fit
        discard(out, made)
        raise train.OutOfMemory(f"out of memory making a network of --hidden {' '.join(map(str, config['hidden']))} "
                                f"({e or 'MemoryError'}); nothing was saved") from None
    except train.OutOfMemory as e:
        if e.done == 0:  # no iteration done: leave no half-made run behind
            discard(out, made)
            raise train.OutOfMemory(f"{e}; nothing was saved") from None
        raise
    return 0


def folder(path):
    """An --out folder: refuses the empty name rather than reading it as "not given"."""
    if not path:
        raise train.ConfigError("--out must name a folder, got ''")
    return path


def discard(run_dir, made):
    """Remove what train.start wrote in run_dir, and run_dir itself if this invocation made it."""
    for name in os.listdir(run_dir) if os.path.isdir(run_dir) else []:
        if name in ("config.json", "checkpoint.npz") or name.startswith((".checkpoint-", ".config.json")):
            os.remove(os.path.join(run_dir, name))
    if made and os.path.isdir(run_dir) and not os.listdir(run_dir):
        os.rmdir(run_dir)


def do_evaluate(args):
    config, state, algorithm = train.load(args.run_dir)
    shots = args.shots or config["shots"]
    if families.problem(config) == "omniglot":
        return evaluate_classification(args, config, state, algorithm, shots)
    if args.queries is not None:
        raise train.ConfigError(f"--queries is for omniglot runs; {args.run_dir} is a sinusoid run (--shots sets its query points)")
    args.steps = 10 if args.steps is None else args.steps
    try:
        records = evaluate(state["meta"], algorithm, config,
                           train.task_stream(args.seed, "evaluate"), shots, args.steps, args.tasks)
    except MemoryError as e:
        raise train.OutOfMemory(f"out of memory evaluating --tasks {args.tasks} of --shots {shots} points "
                                f"({e or 'MemoryError'})") from None
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print(f"{config['algorithm']} after {state['iteration']} iterations: {args.tasks} test task{'s' * (args.tasks > 1)} "
              f"(seed {args.seed}), {shots} support points, mean MSE ± 95% CI")
        print(table(records, shots))
    return 0


def evaluate_classification(args, config, state, algorithm, shots):
    """evaluate for an Omniglot run: accuracy on test tasks and, for a 20-way run, the error on Lake's runs."""
    queries, args.steps = args.queries or config["queries"], OMNIGLOT_STEPS if args.steps is None else args.steps
    if shots + queries > omniglot.DRAWINGS:
        raise train.ConfigError(f"--shots {shots} and --queries {queries} need more than the {omniglot.DRAWINGS} "
                                f"drawings of a character")
    background = config.get("background")
    try:  # a run with a background set trained on all of it: it has no test characters, only Lake's runs
        records = None if background else evaluate(state["meta"], algorithm, config, train.task_stream(args.seed, "evaluate"),
                                                   shots, args.steps, args.tasks, queries)
    except MemoryError as e:
        raise train.OutOfMemory(f"out of memory evaluating --tasks {args.tasks} of --shots {shots} and --queries "
                                f"{queries} ({e or 'MemoryError'})") from None
    runs = lake(state["meta"], algorithm, config, args.steps) if config["ways"] == LAKE_WAYS else None
    if args.json:
        print(json.dumps({"test_tasks": records, "lake_runs": runs}, indent=1))
        return 0
    if background:
        print(f"{config['algorithm']} after {state['iteration']} iterations, trained on every character of background "
              f"set {background} (no test characters held out)")
        if runs is None:
            raise train.ConfigError(f"{args.run_dir} trained on background set {background} has no test characters, "
                                    f"and Lake et al.'s runs are {LAKE_WAYS}-way, not {config['ways']}-way")
        print(f"Lake et al.'s {LAKE_WAYS} one-shot runs ({LAKE_WAYS}-way 1-shot, within an alphabet of the evaluation set):")
        print(lake_table(runs))
        return 0
    print(f"{config['algorithm']} after {state['iteration']} iterations: {args.tasks} test task{'s' * (args.tasks > 1)} "
          f"(seed {args.seed}) of {config['ways']}-way {shots}-shot classification, {queries} "
          f"quer{'ies' if queries > 1 else 'y'} per class, from the {len(families.characters('test'))} test characters; "
          f"mean ± 95% CI")
    print(classification_table(records, shots, queries, config["ways"]))
    if runs is None:
        print(f"(Lake et al.'s one-shot runs are {LAKE_WAYS}-way: a run trained with --ways {LAKE_WAYS} is scored on them)")
    else:
        print(f"\nLake et al.'s {LAKE_WAYS} one-shot runs ({LAKE_WAYS}-way 1-shot, within an alphabet of the evaluation set):")
        print(lake_table(runs))
    return 0


def do_nearest(args):
    config = dict(problem="omniglot", ways=args.ways, shots=args.shots, queries=args.queries or args.shots, rotate=False)
    train.check_omniglot(config)
    on_tasks, on_runs = nearest(config, train.task_stream(args.seed, "evaluate"), args.shots, config["queries"], args.tasks)
    if args.json:
        print(json.dumps({"test_tasks": on_tasks, "lake_runs": on_runs}, indent=1))
        return 0
    print(f"nearest neighbour in pixel space (no learning): {args.tasks} test task{'s' * (args.tasks > 1)} "
          f"(seed {args.seed}) of {args.ways}-way {args.shots}-shot classification, {config['queries']} "
          f"quer{'ies' if config['queries'] > 1 else 'y'} per class: accuracy {number(on_tasks['accuracy']).strip()} ± "
          f"{number(on_tasks['ci_accuracy']).strip()}")
    print(f"Lake et al.'s {LAKE_WAYS} one-shot runs: error {on_runs['error']:.4f} ({on_runs['wrong']} of "
          f"{on_runs['trials']} wrong)")
    return 0


def do_plot(args):
    from tinymeta.lab import plot  # matplotlib is slow to import: only here

    out = os.path.join(args.run_dir, "plot.png") if args.out is None else args.out
    kind = os.path.splitext(out)[1][1:].lower()
    if kind not in plot.FILE_TYPES:  # matplotlib would add ".png" to a name without a suffix
        raise train.ConfigError(f"--out {out!r} must end in a figure type: .png, or one of "
                                f"{', '.join('.' + t for t in sorted(plot.FILE_TYPES) if t != 'png')}")
    config, state, algorithm = train.load(args.run_dir)
    plot.figure(state["meta"], algorithm, config, state["history"],
                train.task_stream(args.seed, "evaluate"), out)
    print(f"wrote {out}")
    return 0


def do_demo(args):
    folder(args.out)
    malloc.keep_freed_memory()
    if os.path.exists(os.path.join(args.out, "checkpoint.npz")):
        print(f"continuing the demo run in {args.out}", file=sys.stderr)
    else:
        train.start(args.out, train.make_config("maml", shots=10, iterations=args.iterations))
    train.run(args.out, args.iterations, args.quiet)
    do_evaluate(argparse.Namespace(run_dir=args.out, shots=None, queries=None, steps=10, tasks=1000, seed=1, json=False))
    return do_plot(argparse.Namespace(run_dir=args.out, out=None, seed=1))


def bench(argv):
    try:
        module = importlib.import_module("tinymeta.lab.bench")
    except ModuleNotFoundError as e:
        if e.name != "tinymeta.lab.bench":
            raise
        print("tinymeta bench: error: tinymeta/lab/bench.py is not in this checkout", file=sys.stderr)
        return 2
    return module.main(argv)
