"""`tinymeta check ALGO FILE.py` (tinymeta/lab/check.py): it passes tinymeta's own modules, and on copies
with a realistic bug planted it fails, naming the property the bug breaks."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from autograd import hessian

import tinymeta
from tinymeta import gradcheck, mlp
from tinymeta.lab import cases, check, checklist, properties, references
from tinymeta.lab.properties import (ADAPT, BAD_INPUT, BAD_INPUTS, CG_ITERATES, CG_SOLVES, CONTEXTS,
                                     CONTEXTS_CONSTANT, CONTEXT_LOSS, FIRST_ORDER, GRADIENT, HALVING, IMPLICIT,
                                     META_LOSS, MSL_WEIGHTS, NEVER_RISES, NEWTON, NEWTON_BAD_INPUT, NEWTON_IMPLICIT,
                                     NEWTON_NEVER_RISES, OWN_RATES, PAST_TRAINED, QUERY_LOSS, REPTILE,
                                     ZERO_CONTEXT_STEPS, ZERO_STEPS)

SOURCE = Path(tinymeta.__file__).parent


def run(capsys, *argv):
    """check.main in-process: (exit status, stdout lines, stderr lines)."""
    status = check.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out.splitlines(), err.splitlines()


def failing(algorithm, lines):
    """The properties whose line is a ✗."""
    return {p.text for p in checklist.ALGORITHMS[algorithm].properties if any(line.startswith(f"✗ {p.text}")
                                                                           for line in lines)}


def planted(tmp_path, algorithm, old, new):
    """A copy of tinymeta/ALGO.py with `old` replaced by `new`, in tmp_path."""
    source = (SOURCE / f"{algorithm}.py").read_text()
    assert source.count(old) == 1, f"{old!r} is not in {algorithm}.py once: the bug would not be planted"
    path = tmp_path / f"my_{algorithm}.py"
    path.write_text(source.replace(old, new))
    return path


@pytest.mark.parametrize("algorithm", list(checklist.ALGORITHMS))
def test_every_tinymeta_module_passes(capsys, algorithm):
    status, lines, err = run(capsys, algorithm, SOURCE / f"{algorithm}.py", "--cases", 20, "--bad-input")
    n = len(checklist.ALGORITHMS[algorithm].properties)
    assert status == 0 and not err, "\n".join(lines + err)
    assert len(lines) == n + 2 and sum(line.startswith("✓ ") for line in lines) == n
    assert lines[-1] == f"all {n} properties hold"


PLANTED = [  # (what, algorithm, correct line, planted bug, the properties it breaks, shown in their lines)
    ("maml: outer loss on the support set", "maml",
     "return np.mean(loss(fast, tasks.x_query, tasks.y_query))",
     "return np.mean(loss(fast, tasks.x_support, tasks.y_support))",
     {META_LOSS, FIRST_ORDER}, "5 of 5 cases fail; smallest failing case: seed"),
    ("maml: first-order cut always on", "maml",
     "        if first_order:\n            grads = [getval(g) for g in grads]",
     "        grads = [getval(g) for g in grads]",
     {GRADIENT}, "(tol 1e-06); 5 of 5 cases fail"),
    ("reptile: sign flipped", "reptile",
     "[p - np.mean(w, axis=0) for p, w in zip(params, fast)]",
     "[np.mean(w, axis=0) - p for p, w in zip(params, fast)]",
     {REPTILE}, "5 of 5 cases fail"),
    ("metasgd: rates detached from the graph", "metasgd",
     'fast = [w - lr * g for w, lr, g in zip(fast, meta["lr"], grads)]',
     'fast = [w - getval(lr) * g for w, lr, g in zip(fast, meta["lr"], grads)]',
     {GRADIENT}, "5 of 5 cases fail"),
    ("metasgd: the input check dropped", "metasgd",
     'if set(meta) != {"params", "lr"} or int(inner_steps) != inner_steps or inner_steps < 0:', "if False:",
     {BAD_INPUT}, "inner_steps=-1 was accepted; inner_steps=1.5 raised TypeError; "
                        "meta without 'lr' raised KeyError"),
    ("metacurvature: M_in transposed", "metacurvature",
     "c[0] @ g @ c[1]", "c[0].T @ g @ c[1]",
     {ADAPT, META_LOSS, FIRST_ORDER}, "cases fail; smallest failing case: seed"),
    ("lslr: step 0's rates at every step", "lslr",
     "rates = lr[min(s, len(lr) - 1)]", "rates = lr[0]",
     {ADAPT, PAST_TRAINED, META_LOSS, FIRST_ORDER}, "steps, inner_lr"),
    ("enhanced: MAML++ weights not summing to 1 (the last one rises linearly, the floor forgotten)", "enhanced",
     "return np.append(early, 1 - np.sum(early))",
     "return np.append(early, 1 / inner_steps + (inner_steps - 1) * iteration / (inner_steps * anneal_iterations))",
     {MSL_WEIGHTS}, "msl_weights(2, 49, 50) = [0.015, 0.99] sums to 1.005, not 1"),
    ("imaml: the /reg forgotten in CG's operator (the meta-gradient's and the Newton steps')", "imaml",
     "[u + h / reg for u, h in zip(v, task_hvps(", "[u + h for u, h in zip(v, task_hvps(",
     {IMPLICIT, NEWTON, NEWTON_IMPLICIT},
     "5 of 5 cases fail; smallest failing case: seed 0, sizes (3, 3, 3, 2), 1 task, K 1, Q 1, 1 step, "
     "inner_lr 0.01206, reg 66.36, newton_lr 1"),
    ("imaml: the meta-gradient's Hessian-vector products at theta, not phi", "imaml",
     "solution = cg(implicit_matrix(fast,", "solution = cg(implicit_matrix(params,",
     {IMPLICIT, NEWTON_IMPLICIT}, "5 of 5 cases fail"),
    ("imaml: CG's step sizes shared by all tasks", "imaml",
     "alpha = np.where(done, 0.0, rr / np.where(done, 1.0, pAp))",
     "alpha = np.where(done, 0.0, np.sum(rr) / np.where(done, 1.0, np.sum(pAp)))",
     {CG_ITERATES, CG_SOLVES}, "2 tasks, K"),  # the smallest failing cases: one task's sizes are its own
    ("imaml: plain steps, no halving", "imaml",
     "lower = trial_value <= value + 1e-12 * np.abs(value)", "lower = np.full(len(x), True)",
     {HALVING, NEVER_RISES, QUERY_LOSS, IMPLICIT, NEWTON, NEWTON_NEVER_RISES, NEWTON_IMPLICIT},
     "cases fail; smallest failing case: seed "),
    ("imaml: CG without its 0/0 guard (nan for a task whose right-hand side is 0)", "imaml",
     "alpha = np.where(done, 0.0, rr / np.where(done, 1.0, pAp))", "alpha = rr / pAp",
     {CG_SOLVES}, "worst error nan (tol 1e-10); 5 of 5 cases fail"),
    ("imaml: a refused step keeps its rate", "imaml",
     "np.where(lower, rate, rate / 2)", "rate",
     {HALVING, QUERY_LOSS, IMPLICIT, NEWTON, NEWTON_IMPLICIT}, "2 of 5 cases fail"),
    ("imaml: one rate for all tasks, halved when any task's step is refused", "imaml",
     "np.where(lower, rate, rate / 2)", "np.where(np.all(lower), rate, rate / 2)",
     {OWN_RATES}, "5 of 5 cases fail"),
    ("imaml: the Newton step's right-hand side without its / reg", "imaml",
     "[s / reg for s in step]", "step",
     {NEWTON, NEWTON_IMPLICIT}, "5 of 5 cases fail"),  # steps reg times too long, refused and halved
    ("imaml: the Newton steps' Hessian at theta, not at the fast weights", "imaml",
     "step = cg(implicit_matrix(fast, x, y, loss, reg),",
     "step = cg(implicit_matrix([np.repeat(p[None], len(x), axis=0) for p in params], x, y, loss, reg),",
     {NEWTON, NEWTON_IMPLICIT}, "smallest failing case: seed 3, sizes (3, 2, 1), 1 task, K 5, Q 5, "
                                            "2 steps"),  # a first step, from theta, is right
    ("imaml: newton_cg ignored, gradient steps always", "imaml",
     "if newton_cg:  # the Newton step", "if False:  # the Newton step",
     {NEWTON, NEWTON_IMPLICIT}, "5 of 5 cases fail"),
    ("imaml: newton_cg not passed on to adapt by query_loss_and_meta_gradient", "imaml",
     "loss, inner_lr, inner_steps, reg, newton_cg)\n    query_grads",
     "loss, inner_lr, inner_steps, reg)\n    query_grads",
     {NEWTON_IMPLICIT}, "newton_cg"),  # and, with --bad-input, meta_gradient newton_cg=0.5 accepted
    ("imaml: Newton steps that raise the objective taken", "imaml",
     "lower = trial_value <= value + 1e-12 * np.abs(value)",
     "lower = (trial_value <= value + 1e-12 * np.abs(value)) | (newton_cg > 0)",
     {NEWTON, NEWTON_NEVER_RISES, NEWTON_IMPLICIT},
     "cases fail; smallest failing case: seed "),
    ("imaml: newton_cg's ValueError without the value", "imaml",
     'f"inner_steps and newton_cg must be integers >= 0, got {inner_steps!r} and {newton_cg!r}"',
     '"inner_steps and newton_cg must be integers >= 0"',
     {NEWTON_BAD_INPUT}, "adapt newton_cg=-1's ValueError does not name the value: inner_steps and newton_cg "
                         "must be integers >= 0; meta_gradient newton_cg=0.5's ValueError does not name the value"),
    ("cavia: the context's gradient cut in second order too", "cavia",
     "        if first_order:\n            grads = getval(grads)", "        grads = getval(grads)",
     {GRADIENT}, "(tol 1e-06); 4 of 5 cases fail"),
    ("cavia: contexts start at 1", "cavia",
     "contexts = np.zeros((len(x), int(n_context)))", "contexts = np.ones((len(x), int(n_context)))",
     {CONTEXTS, CONTEXT_LOSS, CONTEXTS_CONSTANT, ZERO_CONTEXT_STEPS},
     "5 of 5 cases fail; smallest failing case: seed 2, sizes (5, 3, 1), 2 tasks, K 5, Q 3, 1 step, "
     "inner_lr 0.06041, n_context 2"),
    ("cavia: the input check dropped", "cavia",
     "if not inner_lr > 0 or int(inner_steps) != inner_steps or inner_steps < 0:", "if False:",
     {BAD_INPUT}, "inner_lr=0 was accepted; inner_steps=-1 was accepted; adapt inner_steps=1.5 raised TypeError"),
]


def ran(algorithm, bad_input=False):
    """The properties `check` runs for ALGO: all of them with --bad-input, else all but BAD_INPUTS."""
    return [p for p in checklist.ALGORITHMS[algorithm].properties if bad_input or p not in BAD_INPUTS]


@pytest.mark.parametrize("what, algorithm, old, new, broken, shown", PLANTED, ids=[p[0] for p in PLANTED])
def test_a_planted_bug_fails_the_property_it_breaks(tmp_path, capsys, what, algorithm, old, new, broken, shown):
    bad_input = bool(broken & set(BAD_INPUTS))  # a bug in the error messages: checked with --bad-input
    path = planted(tmp_path, algorithm, old, new)
    status, lines, err = run(capsys, algorithm, path, "--cases", 5, *["--bad-input"] * bad_input)
    assert status == 1 and not err, "\n".join(lines + err)
    assert failing(algorithm, lines) == {p.text for p in broken}, "\n".join(lines)
    assert all(shown in line for line in lines if line.startswith("✗")), "\n".join(lines)
    assert lines[-1].startswith(f"{len(broken)} of {len(ran(algorithm, bad_input))} properties fail")


@pytest.mark.parametrize("algorithm, first_order", [(a, CONTEXTS_CONSTANT if a == "cavia" else FIRST_ORDER) for a in
                                                    ("maml", "anil", "metasgd", "lslr", "metacurvature", "enhanced", "cavia")])
def test_a_copy_that_ignores_first_order_fails_its_first_order_property(tmp_path, capsys, algorithm, first_order):
    """Every algorithm with a first-order variant is checked for it: with the cut never taken, the first-order
    meta-gradient is the exact one, and the property that compares it with the query gradient fails."""
    status, lines, _ = run(capsys, algorithm, planted(tmp_path, algorithm, "if first_order:", "if False:"), "--cases", 5)
    assert status == 1 and failing(algorithm, lines) == {first_order.text}, "\n".join(lines)


def test_a_halving_guard_that_compares_with_f_at_theta_fails_on_most_cases(tmp_path, capsys):
    """A copy whose reference value is never updated (every trial compared with F at theta) lets a task's
    objective rise while it stays below F(theta): on the weak pull's cases that happens in about half of them or
    more, with gradient steps and with Newton steps."""
    path = planted(tmp_path, "imaml", "value, rate = np.where(lower, trial_value, value),", "value, rate = value,")
    status, lines, err = run(capsys, "imaml", path, "--cases", 10)
    assert status == 1 and not err and failing("imaml", lines) == {NEVER_RISES.text, NEWTON_NEVER_RISES.text}
    for prop in (NEVER_RISES, NEWTON_NEVER_RISES):
        shown = next(line for line in lines if line.startswith(f"✗ {prop.text}"))
        assert int(re.search(r"; (\d+) of 10 cases fail", shown).group(1)) >= 4 and "(cases.weak_pull: reg " in shown


def test_bad_input_properties_run_only_when_asked(tmp_path, capsys):
    """An exercise is graded on its algorithm: a copy without input checks passes unless --bad-input is given."""
    path = planted(tmp_path, "cavia", *PLANTED[-1][2:4])
    n = len(ran("cavia"))
    status, lines, _ = run(capsys, "cavia", path, "--cases", 3)
    assert status == 0 and lines[0].endswith(f"{n} properties, 3 random cases each (seeds 0 to 2); 1 more with --bad-input")
    assert lines[-1] == f"all {n} properties hold" and not any(BAD_INPUT.text in line for line in lines)
    status, lines, _ = run(capsys, "cavia", path, "--cases", 3, "--bad-input")
    assert status == 1 and lines[0].endswith(f"{n + 1} properties, 3 random cases each (seeds 0 to 2)")
    assert lines[-1].startswith(f"1 of {n + 1} properties fail")


def test_the_dense_hessian_is_autograds():
    """references.loss_hessian, all columns at once, against autograd's hessian, one product at a time."""
    for seed in range(5):
        case = cases.draw(seed)
        flat, unflatten = gradcheck.flatten(case.params)
        for x, y in zip(case.tasks.x_support, case.tasks.y_support):
            expected = hessian(lambda w: mlp.mse(unflatten(w), x, y))(flat)
            assert np.allclose(references.loss_hessian(case.params, x, y), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("newton", [False, True])
def test_the_imaml_reference_never_lets_an_objective_rise_and_some_cases_refuse_steps(newton):
    """On seeds 0-9 (the planted bugs' cases), along references.halving (gradient steps, or Newton steps at the
    Newton properties' rate): no task's objective rises, on the case or with its weak pull, and in the three cases
    drawn above plain steps' stability limit (Newton rate 3) some task's step is refused and its next one taken."""
    def along_halving(case):  # each task's objective after 0, 1, ..., steps steps, and which steps were refused
        (x, y), reg = cases.support(case), case.settings["reg"]
        rate = case.settings["newton_lr"] if newton else case.inner_lr
        fast = references.halving(case.params, x, y, rate, reg, case.steps, newton)  # after 0, 1, ..., steps steps
        values = np.array([[references.regularised([w[t] for w in f], case.params, x[t], y[t], reg)
                            for t in range(len(x))] for f in fast])  # (steps + 1, T)
        refused = np.array([[all(np.array_equal(a[t], b[t]) for a, b in zip(f, g)) for t in range(len(x))]
                            for f, g in zip(fast, fast[1:])])  # (steps, T)
        return values, refused

    refusing = []
    for seed in range(10):
        case = cases.imaml_case(cases.draw(seed))
        (values, refused), (weak, _) = along_halving(case), along_halving(cases.weak_pull(case))
        for v in (values, weak):
            assert np.all(v[1:] <= v[:-1] + 1e-12 * np.abs(v[:-1]))
        if np.any(refused[:-1] & ~refused[1:]):
            refusing.append(seed)
    assert refusing == [1, 2, 9]


def test_an_imaml_copy_from_before_newton_cg_is_checked_on_everything_else(tmp_path, capsys):
    """A copy whose adapt has no newton_cg, as imaml.py's had before its Newton steps (here tinymeta's own
    functions, adapt wrapped without it): the Newton properties are skipped, each line saying so, the rest hold."""
    path = tmp_path / "old_imaml.py"
    path.write_text("from tinymeta.imaml import cg, meta_gradient, query_loss_and_meta_gradient, adapt as newer\n\n\n"
                    "def adapt(params, x, y, loss, inner_lr, inner_steps, reg):\n"
                    "    return newer(params, x, y, loss, inner_lr, inner_steps, reg)\n")
    status, lines, err = run(capsys, "imaml", path, "--cases", 3, "--bad-input")
    newton = {NEWTON, NEWTON_NEVER_RISES, NEWTON_IMPLICIT, NEWTON_BAD_INPUT}
    skipped = [f"- {p.text}: skipped, adapt has no newton_cg parameter" for p in newton]
    assert status == 0 and not err, "\n".join(lines + err)
    assert all(any(line.startswith(s) for line in lines) for s in skipped), "\n".join(lines)
    n = len(checklist.ALGORITHMS["imaml"].properties) - len(newton)
    assert sum(line.startswith("✓ ") for line in lines) == n and lines[-1] == f"all {n} properties hold (4 skipped)"


def test_the_smallest_failing_case_reruns_alone(tmp_path, capsys):
    path = planted(tmp_path, "maml", *PLANTED[0][2:4])
    _, lines, _ = run(capsys, "maml", path, "--cases", 10)
    seed = int(lines[-1].split("--seed ")[1].split()[0])
    meta_loss = next(line for line in lines if line.startswith(f"✗ {META_LOSS.text}"))
    assert f"smallest failing case: seed {seed}, sizes " in meta_loss
    status, again, _ = run(capsys, "maml", path, "--seed", seed, "--cases", 1)
    assert status == 1 and failing("maml", again) == failing("maml", lines)
    again_meta_loss = next(line for line in again if line.startswith(f"✗ {META_LOSS.text}"))
    assert f"1 of 1 cases fail; smallest failing case: seed {seed}, sizes " in again_meta_loss


def test_the_file_is_checked_not_tinymetas_own_module_and_no_test_library_is_needed(tmp_path):
    path = planted(tmp_path, "maml", *PLANTED[0][2:4])
    script = ("import sys\n"
              "sys.modules['hypothesis'] = sys.modules['pytest'] = None  # the checker needs neither\n"
              "from tinymeta.lab import check\n"
              f"status = check.main(['maml', {str(path)!r}, '--cases', '2'])\n"
              "print(status, 'tinymeta.maml' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "1 False"  # the planted bug is found, and tinymeta.maml never imported


def test_a_function_that_raises_fails_its_properties_with_the_error(tmp_path, capsys):
    path = planted(tmp_path, "maml", "fast = [w - inner_lr * g for w, g in zip(fast, grads)]",
                   'raise NotImplementedError("the inner step:\\n your exercise")')
    status, lines, err = run(capsys, "maml", path, "--cases", 3)
    assert status == 1 and not err
    assert next(l for l in lines if l.startswith("✗ adapt")).endswith(
        "raised NotImplementedError: the inner step: your exercise")  # one line, even for a message of two
    assert failing("maml", lines) == {p.text for p in ran("maml")} - {ZERO_STEPS.text}  # no step taken


def test_a_case_on_a_kink_is_skipped_and_a_property_of_mostly_skipped_cases_fails(capsys):
    """Seed 62 puts a hidden unit's input within 1e-8 of 0: no central difference is smooth there."""
    status, lines, _ = run(capsys, "metasgd", SOURCE / "metasgd.py", "--seed", 60, "--cases", 5)
    gradient = next(line for line in lines if GRADIENT.text in line)
    assert status == 0 and gradient.startswith("✓") and gradient.endswith(
        "1 of 5 cases skipped: not smooth along any of 5 random directions")
    status, lines, _ = run(capsys, "metasgd", SOURCE / "metasgd.py", "--seed", 62, "--cases", 1)
    assert status == 1 and failing("metasgd", lines) == {GRADIENT.text}


@pytest.mark.parametrize("source, argv, message", [
    (None, ["maml", "{tmp}/nowhere.py"], "no such file: {tmp}/nowhere.py"),
    ("import numpy as np\nx = np.zeros(3)\ny = undefined_name\n", ["maml", "{file}"],
     "{file}, line 3: importing it raised NameError: name 'undefined_name' is not defined"),
    ("def adapt(:\n", ["maml", "{file}"], "{file}, line 1: importing it raised SyntaxError: "),
    ("def adapt(params, x, y, loss, inner_lr, inner_steps):\n    return params\n", ["maml", "{file}"],
     "{file} does not define meta_loss (the maml check calls adapt, meta_loss)"),
    ("", ["enhanced", "{file}"],
     "{file} does not define init, adapt, meta_loss, msl_weights (the enhanced check calls init, adapt, meta_loss, "
     "msl_weights)"),
    ("def adapt(params, x, y, loss, inner_lr, inner_steps, reg):\n    return params\n", ["imaml", "{file}"],
     "{file} does not define query_loss_and_meta_gradient, meta_gradient, cg (the imaml check calls adapt, "
     "query_loss_and_meta_gradient, meta_gradient, cg)"),
    ("", ["mamll", "{file}"], "tinymeta check: error: argument ALGO: invalid choice: 'mamll'"),
    ("", ["maml", "{file}", "--cases", "0"], "error: argument --cases: must be an integer >= 1, got '0'"),
])
def test_a_file_that_cannot_be_checked_gets_one_line_and_exit_2(tmp_path, capsys, source, argv, message):
    file = tmp_path / "student.py"
    if source is not None:
        file.write_text(source)
    fill = dict(tmp=tmp_path, file=file)
    status, lines, err = run(capsys, *(a.format(**fill) for a in argv))
    assert status == 2 and lines == [] and len(err) == 1, err
    assert message.format(**fill) in err[0]
    assert err[0].startswith("tinymeta check: error: ")


def test_the_command_line_runs_the_checker(capsys):
    from tinymeta.lab import cli
    assert cli.main(["check", "maml", str(Path(tinymeta.__file__).with_name("maml.py")), "--cases", "3"]) == 0
    assert "all 5 properties hold" in capsys.readouterr().out  # and with --bad-input, 6


def test_a_nan_anywhere_fails_the_comparison():
    """Two ways of computing the same arrays: a nan in any array, first or last, makes the error nan, which no
    tolerance accepts (a plain max over arrays keeps or drops a nan by its position)."""
    ones, nan = np.ones(3), np.full(3, np.nan)
    for got in ([nan, ones], [ones, nan], [ones, ones * np.array([1, np.nan, 1])]):
        assert np.isnan(properties.distance(got, [ones, ones]))
    assert properties.distance([ones, ones], [ones, ones]) == 0.0


def test_an_error_is_relative_to_one_plus_the_expected_size():
    """A meta-loss or weight expected to be 0 is compared absolutely (no 0 / 0), a large one relatively."""
    assert properties.scalar_distance(1e-12, 0.0) == 1e-12 and properties.scalar_distance(1e6 + 1e-4, 1e6) < 1e-9
    assert properties.distance([np.array([1e-12]), np.array([1e6 + 1e-7])], [np.zeros(1), np.array([1e6])]) == 1e-12


def test_the_rerun_hint_names_a_case_only_for_a_property_checked_case_by_case(tmp_path, capsys):
    """A copy that fails only a property checked once (MAML++'s step weights) gets no `--seed S --cases 1` hint."""
    what, algorithm, old, new, broken, _ = next(p for p in PLANTED if p[0].startswith("enhanced: MAML++ weights"))
    status, lines, _ = run(capsys, algorithm, planted(tmp_path, algorithm, old, new), "--cases", 2)
    assert status == 1 and failing(algorithm, lines) == {p.text for p in broken} and "--seed" not in lines[-1]


def test_a_files_own_imports_come_from_its_folder_first(tmp_path, capsys, monkeypatch):
    """While FILE loads, its folder goes first on the import path: its own helpers.py is found, not another of the
    same name earlier on the path (say, in the folder the command is run from)."""
    elsewhere, mine = tmp_path / "elsewhere", tmp_path / "mine"
    for folder in (elsewhere, mine):
        folder.mkdir()
        (folder / "helpers.py").write_text(f"WHICH = {folder.name!r}\n")
    (mine / "my_maml.py").write_text("from helpers import WHICH\nassert WHICH == 'mine', WHICH\n"
                                     "from tinymeta.maml import adapt, meta_loss  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(elsewhere))
    monkeypatch.delitem(sys.modules, "helpers", raising=False)
    try:
        status, lines, err = run(capsys, "maml", mine / "my_maml.py", "--cases", 1)
    finally:
        sys.modules.pop("helpers", None)
    assert status == 0 and not err, "\n".join(lines + err)
