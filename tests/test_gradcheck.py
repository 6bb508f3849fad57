"""tinymeta/gradcheck.py: passes a right gradient, fails a wrong one, steps around a kink, needs only numpy."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinymeta
from tinymeta import gradcheck


def sin_and_square(x):
    return np.sum(np.sin(x["a"])) + x["b"][0] @ x["b"][0] + 3 * x["b"][1]


def test_right_gradient_passes_and_wrong_one_fails():
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(2, 3)), "b": (rng.normal(size=4), np.array(0.5))}
    right = {"a": np.cos(x["a"]), "b": (2 * x["b"][0], np.array(3.0))}
    error = gradcheck.directional_check(sin_and_square, x, right, rng, "gradcheck: sin + square", directions=5)
    assert error < 1e-8
    wrong = {"a": np.cos(x["a"]), "b": (x["b"][0], np.array(3.0))}  # d(b.b)/db taken as b, not 2b
    with pytest.raises(AssertionError, match="analytic .* vs finite difference"):
        gradcheck.directional_check(sin_and_square, x, wrong, rng)


def test_a_kink_within_h_is_stepped_around():
    """relu(x0) at x0 = 3e-5: along seed 1's first direction the quotient at h = 1e-4 crosses the kink and
    the one at h/4 does not, so they disagree; the second direction is smooth and checks the gradient."""
    calls = []

    def f(x):
        calls.append(x)
        return max(x[0], 0.0) + x[1] ** 2

    x, right = np.array([3e-5, 1.0]), np.array([1.0, 2.0])
    error, _, _ = gradcheck.directional_error(f, x, right, np.random.default_rng(1))
    assert error < 1e-10 and len(calls) == 1 + 2 * 4  # f(x), then four evaluations per direction
    assert gradcheck.directional_error(f, x, right, np.random.default_rng(1), tries=1) is None
    with pytest.raises(AssertionError, match="no smooth direction found in 1 tries"):
        gradcheck.directional_check(f, x, right, np.random.default_rng(1), tries=1)


def test_every_one_of_the_tries_is_drawn():
    """With seed 3 the first four directions cross the kink of relu(x0) at x0 = 3e-5 and the fifth does not:
    tries=5 finds it, after 4 evaluations per direction; tries=4 gives up."""
    calls = []

    def f(x):
        calls.append(x)
        return max(x[0], 0.0) + x[1] ** 2

    x, right = np.array([3e-5, 1.0]), np.array([1.0, 2.0])
    error, _, _ = gradcheck.directional_error(f, x, right, np.random.default_rng(3), tries=5)
    assert error < 1e-10 and len(calls) == 1 + 4 * 5
    assert gradcheck.directional_error(f, x, right, np.random.default_rng(3), tries=4) is None


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e6])
def test_smoothness_is_judged_relative_to_the_size_of_the_quotients(scale):
    """The quotients at h and h/4 of a smooth f differ by O(h^2) times f's third derivative, which grows with
    f: a million times f is as smooth as f, and its right gradient passes as f's does."""
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(2, 3)), "b": (rng.normal(size=4), np.array(0.5))}
    right = {"a": scale * np.cos(x["a"]), "b": (scale * 2 * x["b"][0], np.array(scale * 3.0))}
    error = gradcheck.directional_check(lambda x: scale * sin_and_square(x), x, right, rng, directions=5)
    assert error < 1e-8


def test_flatten_keeps_the_structure_and_orders_dicts_by_key():
    x = {"params": [np.arange(6.0).reshape(2, 3), np.ones(3)], "curvature": [(np.eye(2), 2 * np.eye(1))],
         "lr": np.full((2, 2), 0.5)}
    flat, unflatten = gradcheck.flatten(x)
    assert np.array_equal(flat[:5], [1, 0, 0, 1, 2]) and flat.size == 5 + 4 + 9  # "curvature" < "lr" < "params"
    back = unflatten(flat + 1)
    assert type(back["params"]) is list and type(back["curvature"][0]) is tuple
    assert np.array_equal(back["params"][0], np.arange(1.0, 7.0).reshape(2, 3))
    assert np.array_equal(gradcheck.flatten(back)[0], flat + 1)


@pytest.mark.parametrize("x, analytic, message", [
    ([np.ones(3, dtype=np.float32)], [np.ones(3)], r"float64, got a float32 array of shape \(3,\)"),
    ([np.ones(3)], [np.ones(2)], r"size 3 is different from 2"),  # numpy's matmul names the two sizes
    ([np.full(3, np.nan)], [np.ones(3)], "f\\(x\\) must be a finite number, got"),
])
def test_bad_input_says_what_is_wrong(x, analytic, message):
    with pytest.raises(ValueError, match=message):
        gradcheck.directional_error(lambda x: np.sum(x[0] ** 2), x, analytic, np.random.default_rng(0))


def test_the_module_keeps_no_state():
    """Only constants at module level (the record of largest errors lives in tests/oracles.py)."""
    tree = ast.parse(Path(gradcheck.__file__).read_text())
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in ast.walk(node.targets[0])
                if isinstance(t, ast.Name)}
    assert assigned == {"H", "TOL"}


def test_the_file_needs_only_numpy(tmp_path):
    shutil.copy(Path(tinymeta.__file__).with_name("gradcheck.py"), tmp_path / "gradcheck.py")
    script = ("import sys\n"
              "sys.modules['autograd'] = sys.modules['tinymeta'] = None  # importing either now fails\n"
              "import numpy as np, gradcheck\n"
              "x = [np.linspace(-1, 1, 5), (np.ones(2),)]\n"
              "f = lambda x: np.sum(x[0] ** 3) + np.prod(x[1][0])\n"
              "print(gradcheck.directional_check(f, x, [3 * x[0] ** 2, (np.ones(2),)], np.random.default_rng(0)))\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert float(run.stdout) < 1e-8
