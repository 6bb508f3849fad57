"""`python -m tinymeta check ALGO FILE.py`: tinymeta's property battery, run on your own version of ALGO.

FILE implements the functions of tinymeta/ALGO.py with the same signatures (a changed copy, say). It is
loaded under a private module name, so tinymeta's own ALGO.py is never imported in its place. Every
property is checked on the same random cases (a small ReLU MLP with mlp.mse as the loss, regression
tasks, a step count and a rate), each rebuilt by `cases.draw(seed)`, or by
`checklist.ALGORITHMS[ALGO].prepare(cases.draw(seed))` for an algorithm with settings of its own (iMAML's reg,
inner rates and steps, CAVIA's contexts); an algorithm's learned meta-parameters for a case are
`checklist.ALGORITHMS[ALGO].meta(case)`. The expected values come from references.py, the slow, obvious version of
each algorithm (a Python loop over tasks, one task's gradient at a time); properties.py holds the properties,
checklist.py which apply to each algorithm. One line per property: ✓ or ✗, the worst error, and for a failure
the smallest failing case; or -, skipped, for a property that needs what FILE lacks (iMAML's Newton properties,
for a copy whose adapt has no newton_cg). Exit status 0 if every property checked holds, 1 if one does not, 2 if
FILE cannot be checked (missing, raises on import, lacks a function). The properties that bad arguments raise a
ValueError (properties.BAD_INPUTS) run only with --bad-input: by default an exercise is graded on its algorithm,
not on its error messages.
"""
import argparse
import importlib.util
import math
import os
import sys
import traceback
import warnings
from collections import namedtuple

import numpy as np

from tinymeta.lab.cases import describe, draw, smallness
from tinymeta.lab.checklist import ALGORITHMS
from tinymeta.lab.flags import Parser
from tinymeta.lab.properties import BAD_INPUTS, Failed, NotSmooth, one_line

CASES = 100  # random cases per property

Result = namedtuple("Result", "holds worst failures skipped")


def run(prop, algo, module, seeds):
    """Check prop on every case: failures are (case, note) pairs, smallest case first; skipped counts the
    cases without a smooth direction. A property whose cases are mostly skipped does not hold either."""
    errors, failures, skipped = [], [], 0
    for seed in seeds[:1] if prop.once else seeds:
        case, note = draw(seed), None
        case = algo.prepare(case) if algo.prepare else case
        try:
            error = prop.check(algo, module, case)
        except NotSmooth:
            skipped += 1
            continue
        except Failed as e:
            error, note = math.inf, str(e)
        except Exception as e:  # the module under test raised: a failure of this case, reported as such
            error, note = math.inf, f"raised {type(e).__name__}: {one_line(e)}"
        errors.append(error)
        if not error <= (prop.tol or 0.0):  # also catches nan
            failures.append((case, note))
    worst = math.nan if any(math.isnan(e) for e in errors) else max(errors, default=None)
    holds = not failures and 2 * skipped <= len(seeds)
    return Result(holds, worst, sorted(failures, key=lambda failure: smallness(failure[0])), skipped)


def line(prop, result, n_cases):
    """One line: ✓ or ✗, the property, the worst error, skipped cases and the smallest failing case."""
    worst, failures, skipped = result.worst, result.failures, result.skipped
    shown = prop.tol is not None and worst is not None and not math.isinf(worst)
    parts = [f"worst error {worst:.1e} (tol {prop.tol:.0e})" if shown else "",
             f"{len(failures)} of {n_cases} cases fail" if failures and not prop.once else "",
             f"{skipped} of {n_cases} cases skipped: not smooth along any of 5 random directions" if skipped else ""]
    text = f"{'✓' if result.holds else '✗'} {prop.text}"
    if prop.once and failures:
        return f"{text}: {failures[0][1] or parts[0]}"
    text += "".join(f"; {part}" for part in parts if part)
    if failures:
        case, note = failures[0]
        text += f"; smallest failing case: {describe(case)}" + (f": {note}" if note else "")
    return text


class Unusable(Exception):
    """FILE cannot be checked; the message says why, in one line."""


def load(path, algorithm, functions):
    """FILE as a module named _tinymeta_check_ALGO, never tinymeta's own; it must define `functions`."""
    if not os.path.isfile(path):
        raise Unusable(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(f"_tinymeta_check_{algorithm}", path)
    if spec is None:
        raise Unusable(f"{path} is not a Python file (.py)")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)  # its own imports may sit next to it (enhanced.py's `import metacurvature`)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        raise Unusable(f"{path}{where(e, path)}: importing it raised {type(e).__name__}: {one_line(e)}") from None
    finally:
        sys.path.remove(folder)
    missing = [name for name in functions if not callable(getattr(module, name, None))]
    if missing:
        raise Unusable(f"{path} does not define {', '.join(missing)} "
                       f"(the {algorithm} check calls {', '.join(functions)})")
    return module


def where(error, path):
    """', line N' of FILE where an import-time error arose, if it arose in FILE."""
    if isinstance(error, SyntaxError) and error.lineno:
        return f", line {error.lineno}"
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if os.path.abspath(frame.filename) == os.path.abspath(path)]
    return f", line {lines[-1]}" if lines else ""


def count(least):
    def parse(text):
        if not text.isdigit() or int(text) < least:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {text!r}")
        return int(text)
    return parse


def main(argv=None):
    """`tinymeta check ALGO FILE.py [--cases N] [--seed S] [--bad-input]` (argv without the word check): the exit
    status."""
    parser = Parser(prog="tinymeta check", description="Run tinymeta's property battery for ALGO on FILE.py, "
                    "your own module with the functions and signatures of tinymeta/ALGO.py.")
    parser.add_argument("algorithm", metavar="ALGO", choices=list(ALGORITHMS), help=", ".join(ALGORITHMS))
    parser.add_argument("file", metavar="FILE.py")
    parser.add_argument("--cases", type=count(1), default=CASES,
                        help=f"random cases per property (default {CASES})")
    parser.add_argument("--seed", type=count(0), default=0,
                        help="seed of the first case; case i has seed SEED + i (default 0)")
    parser.add_argument("--bad-input", action="store_true",
                        help="also check that bad arguments (a rate <= 0, a negative step count, ...) raise a ValueError")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a bad argument (one line on stderr already)
        return e.code
    algo = ALGORITHMS[args.algorithm]
    try:
        module = load(args.file, args.algorithm, algo.functions)
    except Unusable as e:
        print(f"tinymeta check: error: {e}", file=sys.stderr)
        return 2
    seeds = range(args.seed, args.seed + args.cases)
    which = f"seeds {seeds[0]} to {seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}"
    properties = [p for p in algo.properties if args.bad_input or p not in BAD_INPUTS]
    left_out = len(algo.properties) - len(properties)
    print(f"tinymeta check {args.algorithm} {args.file}: {len(properties)} properties, "
          f"{len(seeds)} random case{'s' * (len(seeds) > 1)} each ({which})"
          + (f"; {left_out} more with --bad-input" if left_out else ""))
    failed, rerun, skipped = 0, None, 0
    with np.errstate(all="ignore"), warnings.catch_warnings():  # a diverging inner loop shows in the properties
        warnings.simplefilter("ignore", RuntimeWarning)
        for prop in properties:
            why = prop.needs and prop.needs(module)
            if why:
                print(f"- {prop.text}: skipped, {why}")
                skipped += 1
                continue
            result = run(prop, algo, module, seeds)
            print(line(prop, result, len(seeds)), flush=True)
            failed += not result.holds
            if result.failures and not prop.once and rerun is None:
                rerun = result.failures[0][0].seed
    checked, also = len(properties) - skipped, f" ({skipped} skipped)" if skipped else ""
    if not failed:
        print(f"all {checked} properties hold{also}")
        return 0
    hint = "" if rerun is None else f"; rerun the first one's smallest failing case alone: --seed {rerun} --cases 1"
    print(f"{failed} of {checked} properties fail{also}{hint}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
