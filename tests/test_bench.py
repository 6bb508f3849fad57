"""The benchmark runs (tiny settings); it measures speed, so nothing here asserts a time."""
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinymeta
from tinymeta.lab import bench, optim


def test_quick_bench_prints_every_table(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for title in ("ms per meta-iteration", "batched over tasks against a Python loop", "peak memory", "iMAML Newton MB",
                  "Omniglot 5-way 1-shot", "goal: exact MAML <= 40 ms"):
        assert title in out
    for name in bench.available():
        assert f"\n{name} " in out
    assert f"malloc keeps freed memory: {'yes' if platform.libc_ver()[0] == 'glibc' else 'no'}" in out
    # the batched and looped meta-gradients it times are the same gradient
    loop_table = out.split("max |difference|")[1].split("\n\n")[0].splitlines()[2:]
    differences = [float(line.split()[-1]) for line in loop_table]
    assert differences and max(differences) < 1e-12


def test_classification_section_times_both_paths_of_the_same_gradient():
    """Tiny Omniglot settings: both paths for exact and first-order MAML, the same exact meta-gradient, and the
    goal line, which compares only at the paper's setting."""
    args = bench.parse(["--quick"])
    args.omniglot_tasks, args.omniglot_hidden = 3, [6, 4]
    out = bench.classification_section(args, np.random.default_rng(0))
    assert "Omniglot 5-way 1-shot, 3 tasks, MLP 784-6-4-5, inner lr 2.0, 1 step(s)" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("registry ", "plain "))}
    assert set(rows) == {"registry", "plain"} and all(len(r) == 2 and float(r[0]) > 0 for r in rows.values())
    assert float(out.split("max |difference| ")[1].split()[0]) < 1e-12
    assert "goal: exact MAML <= 40 ms; measured" in out and "(not comparable: not the paper's setting)" in out


def test_adam_step_on_a_meta_dict():
    meta = {"params": [np.ones(2), np.zeros((2, 3))], "lr": np.array(0.5)}
    grads = {"params": [np.array([1.0, -2.0]), np.zeros((2, 3))], "lr": np.array(3.0)}
    n = 2 + 6 + 1
    new, (t, m, v) = optim.adam(meta, grads, (0, np.zeros(n), np.zeros(n)), 0.1)  # the Adam bench.py uses
    # first step of Adam moves every coordinate with a nonzero gradient by lr, against its sign
    assert t == 1 and np.allclose(new["params"][0], [0.9, 1.1], atol=1e-6) and np.allclose(new["lr"], 0.4, atol=1e-6)
    assert np.array_equal(new["params"][1], meta["params"][1])


def test_bad_arguments_exit_with_a_message(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--iterations", "0"])
    assert e.value.code != 0 and "--iterations must be >= 1" in capsys.readouterr().err


RECORDING = """
import ctypes
calls = []  # every mallopt call made through ctypes, whichever way the library was loaded


class Recording(ctypes.CDLL):
    def __getitem__(self, name):
        f = super().__getitem__(name)
        return (lambda *args: calls.append(args) or f(*args)) if name == "mallopt" else f


ctypes.CDLL, ctypes.cdll = Recording, ctypes.LibraryLoader(Recording)
"""


def recorded(code, **env):
    """The mallopt calls a fresh Python process makes while running `code`."""
    program = RECORDING + code + "\nprint(calls)"
    run = subprocess.run([sys.executable, "-c", program], env={**os.environ, **env}, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout.splitlines()[-1]


SETTING = "[(-3, 4000000), (-1, 100000000)]"  # M_MMAP_THRESHOLD 4 MB, M_TRIM_THRESHOLD 100 MB


def test_importing_tinymeta_changes_no_malloc_setting():
    modules = ["tinymeta"] + [f"tinymeta.{p.stem}" for p in Path(tinymeta.__file__).parent.glob("[!_]*.py")] + [
        f"tinymeta.lab.{name}" for name in ("cli", "train", "reproduce", "bench", "check", "malloc")]
    assert recorded("import " + ", ".join(modules)) == "[]"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the malloc setting is glibc's")
def test_train_switches_the_setting_on_unless_told_not_to(tmp_path):
    train = (f"from tinymeta.lab import cli\n"
             f"assert cli.main(['train', 'maml', '--iterations', '1', '--meta-batch', '2', '--hidden', '4', "
             f"'--out', {str(tmp_path / 'run')!r}, '--quiet']) == 0")
    assert recorded(train) == SETTING  # also shows that the recording sees a call when there is one
    assert recorded("from tinymeta.lab import malloc\nassert malloc.keep_freed_memory() is False",
                    TINYMETA_KEEP_FREED_MEMORY="0") == "[]"


def test_the_malloc_setting_changes_no_number():
    """Keeping freed memory changes where arrays live, never a number in them: one meta-gradient computed
    with and without the setting, each in a fresh process, is the same bit for bit."""
    program = ("import numpy as np\nfrom autograd import grad\nfrom tinymeta import maml, mlp, sinusoid\n"
               "from tinymeta.lab.malloc import keep_freed_memory\n"
               "kept = keep_freed_memory()\n"
               "rng = np.random.default_rng(3)\n"
               "params, tasks = mlp.init(rng), sinusoid.sample_tasks(rng, 25, 10, 10)\n"
               "g = grad(maml.meta_loss)(params, tasks, mlp.mse)\n"
               "print(kept, np.concatenate([a.ravel() for a in g]).tobytes().hex())")

    def meta_gradient(keep):
        env = dict(os.environ, TINYMETA_KEEP_FREED_MEMORY=keep)
        run = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout.split()

    (kept, bits_kept), (not_kept, bits_not_kept) = meta_gradient("1"), meta_gradient("0")
    assert not_kept == "False" and kept == str(platform.libc_ver()[0] == "glibc")
    assert len(bits_kept) == 16 * 1761 and bits_kept == bits_not_kept
