"""maml.py alone, copied next to a student's own model, meta-trains it; mlp.py alone works too: no tinymeta needed."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from autograd import grad

import tinymeta
from tinymeta import maml, mlp, sinusoid

STUDENT = r'''
import sys
sys.modules["tinymeta"] = None  # any import of tinymeta now fails: maml.py must stand alone
import numpy as np
import autograd.numpy as anp
from autograd import grad
from collections import namedtuple
import maml

# the student's own model: a quadratic in x, parameters [w (3,)] with an optional task axis
def loss(params, x, y):
    (w,) = params
    features = anp.concatenate([x ** 0, x, x ** 2], axis=-1)  # (..., K, 3)
    pred = anp.sum(features * w[..., None, :], axis=-1, keepdims=True)
    return anp.mean((pred - y) ** 2, axis=(-2, -1))

Batch = namedtuple("Batch", "x_support y_support x_query y_query")
def sample(rng, n, k):  # tasks: y = a + b x^2 with a ~ U[2, 4], b ~ U[-1, 1]
    a, b = rng.uniform(2, 4, (n, 1, 1)), rng.uniform(-1, 1, (n, 1, 1))
    xs, xq = rng.uniform(-1, 1, (n, k, 1)), rng.uniform(-1, 1, (n, k, 1))
    return Batch(xs, a + b * xs ** 2, xq, a + b * xq ** 2)

rng = np.random.default_rng(0)
params = [np.zeros(3)]
test = sample(np.random.default_rng(1), 200, 5)
before = maml.meta_loss(params, test, loss, inner_lr=0.3, inner_steps=1)
meta_grad = grad(maml.meta_loss)
for _ in range(300):
    g = meta_grad(params, sample(rng, 10, 5), loss, inner_lr=0.3, inner_steps=1)
    params = [p - 0.1 * gi for p, gi in zip(params, g)]
after = maml.meta_loss(params, test, loss, inner_lr=0.3, inner_steps=1)
print(before, after)
assert after < 0.2 * before, (before, after)
'''


def test_maml_py_alone_meta_trains_a_students_model(tmp_path):
    shutil.copy(Path(tinymeta.__file__).with_name("maml.py"), tmp_path / "maml.py")
    (tmp_path / "student.py").write_text(STUDENT)
    run = subprocess.run([sys.executable, "student.py"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    before, after = map(float, run.stdout.split())
    assert after < 0.2 * before


ALONE = r'''
import sys
sys.modules["tinymeta"] = None  # any import of tinymeta now fails: mlp.py must stand alone
from collections import namedtuple
import numpy as np
from autograd import grad
import maml, mlp

assert mlp.mlp_fast is None  # the plain path
Tasks = namedtuple("Tasks", "x_support y_support x_query y_query")
rng = np.random.default_rng(0)
params = mlp.init(rng, (1, 6, 6, 1))
tasks = Tasks(rng.uniform(-5, 5, (4, 3, 1)), rng.normal(size=(4, 3, 1)),
              rng.uniform(-5, 5, (4, 5, 1)), rng.normal(size=(4, 5, 1)))
labels = Tasks(tasks.x_support, np.eye(3)[rng.integers(0, 3, (4, 3))], tasks.x_query, np.eye(3)[rng.integers(0, 3, (4, 5))])
classifier = mlp.init(rng, (1, 6, 6, 3))
out = []
for loss, p, t in ((mlp.mse, params, tasks), (mlp.cross_entropy, classifier, labels)):
    meta_gradient = grad(lambda p: maml.meta_loss(p, t, loss, 0.1, 2))(p)
    out.append([loss(p, t.x_support, t.y_support).tolist(), [g.tolist() for g in meta_gradient]])
print(repr(out))
'''


def test_mlp_py_alone_takes_the_plain_path_to_the_same_numbers(tmp_path):
    """Copied out without mlp_fast.py, mlp.mse is mse_reference and mlp.cross_entropy cross_entropy_reference:
    the same losses and meta-gradients (to rounding)."""
    for name in ("mlp.py", "maml.py"):
        shutil.copy(Path(tinymeta.__file__).with_name(name), tmp_path / name)
    (tmp_path / "alone.py").write_text(ALONE)
    run = subprocess.run([sys.executable, "alone.py"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    alone = eval(run.stdout)
    rng = np.random.default_rng(0)  # the same draws, with tinymeta's mlp (its fast path)
    params = mlp.init(rng, (1, 6, 6, 1))
    tasks = sinusoid.Tasks(rng.uniform(-5, 5, (4, 3, 1)), rng.normal(size=(4, 3, 1)),
                           rng.uniform(-5, 5, (4, 5, 1)), rng.normal(size=(4, 5, 1)), None, None)
    labels = tasks._replace(y_support=np.eye(3)[rng.integers(0, 3, (4, 3))], y_query=np.eye(3)[rng.integers(0, 3, (4, 5))])
    classifier = mlp.init(rng, (1, 6, 6, 3))
    for (loss, meta_gradient), (f, p, t) in zip(alone, ((mlp.mse, params, tasks), (mlp.cross_entropy, classifier, labels)),
                                                strict=True):
        expected = grad(lambda p: maml.meta_loss(p, t, f, 0.1, 2))(p)
        assert np.allclose(loss, f(p, t.x_support, t.y_support), rtol=1e-12, atol=0)
        assert all(np.allclose(g, e, rtol=1e-9, atol=1e-12) for g, e in zip(meta_gradient, expected))


def test_algorithm_modules_import_only_numpy_and_autograd():
    allowed = {"enhanced.py": "from tinymeta import metacurvature"}  # as its docstring says
    for name in ("maml.py", "reptile.py", "metasgd.py", "lslr.py", "metacurvature.py", "enhanced.py",
                 "anil.py", "imaml.py", "cavia.py"):
        source = Path(tinymeta.__file__).with_name(name).read_text()
        imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
        imports = [line for line in imports if line.split("  #")[0] != allowed.get(name)]
        assert imports and all(line.split()[1].split(".")[0] in ("numpy", "autograd") for line in imports), name
