"""The benchmark runs (tiny settings); it measures speed, so nothing here asserts a time."""
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from tinymeta.lab import bench, optim


def test_quick_bench_prints_every_table(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    for title in ("ms per meta-iteration", "batched over tasks against a Python loop", "peak memory", "iMAML Newton MB"):
        assert title in out
    for name in bench.available():
        assert f"\n{name} " in out
    # the batched and looped meta-gradients it times are the same gradient
    loop_table = out.split("max |difference|")[1].split("\n\n")[0].splitlines()[2:]
    differences = [float(line.split()[-1]) for line in loop_table]
    assert differences and max(differences) < 1e-12


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


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the malloc setting is glibc's")
def test_importing_tinymeta_tunes_malloc_unless_told_not_to():
    def imported(**env):
        code = "import tinymeta; print(tinymeta.KEEPS_FREED_MEMORY)"
        run = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True)
        return run.stdout.strip()
    assert imported() == "True" and imported(TINYMETA_KEEP_FREED_MEMORY="0") == "False"
