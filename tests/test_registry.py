"""The registry's entries do what their modules say, with the defaults the README documents."""
import re
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from tinymeta import cavia, imaml, maml, mlp, sinusoid
from tinymeta.lab import registry, train


def test_cavia_fast_weights_predict_as_the_network_with_the_contexts_appended():
    """[x, phi] W1 + b1 = x W1[:1] + (b1 + phi W1[1:]): the folded fast weights on x alone give the same
    predictions as the network on x with each task's adapted context appended."""
    rng = np.random.default_rng(0)
    config = train.make_config("cavia", n_context=3, inner_lr=0.5)
    params = mlp.init(rng, (4, 8, 8, 1))
    tasks = sinusoid.sample_tasks(rng, 5, 6, 6)
    for steps in (0, 1, 3):
        fast = registry.ALGORITHMS["cavia"].adapt({"params": params}, tasks.x_support, tasks.y_support, config, steps)
        contexts = cavia.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, 3, 0.5, steps)
        assert fast[0].shape == (5, 1, 8) and fast[1].shape == (5, 8)
        assert np.allclose(mlp.predict(fast, tasks.x_query),
                           mlp.predict(params, cavia.with_context(tasks.x_query, contexts)), rtol=1e-12, atol=1e-12)
        if steps:
            assert np.abs(contexts).max() > 0  # the contexts did move


def test_cavia_runs_have_a_network_with_the_context_inputs(tmp_path):
    config = train.make_config("cavia", n_context=2, hidden=[4], meta_batch=2, shots=3, iterations=2, inner_lr=0.3)
    train.start(tmp_path / "run", config)
    _, state = train.run(tmp_path / "run", 2, quiet=True)
    assert state["meta"]["params"][0].shape == (3, 4)  # x and two contexts


@pytest.mark.parametrize("newton_cg", [0, 2])
def test_imaml_loss_and_gradient_are_the_modules(newton_cg):
    rng = np.random.default_rng(1)
    config = train.make_config("imaml", inner_lr=0.01, inner_steps=3, reg=5.0, cg_steps=4, newton_cg=newton_cg)
    params = mlp.init(rng, (1, 8, 1))
    tasks = sinusoid.sample_tasks(rng, 4, 5, 5)
    loss, g = registry.ALGORITHMS["imaml"].loss_and_grad({"params": params}, tasks, config, 1)
    expected = imaml.query_loss_and_meta_gradient(params, tasks, mlp.mse, 0.01, 3, 5.0, 4, newton_cg)
    assert loss == expected[0] and all(np.array_equal(a, b) for a, b in zip(g["params"], expected[1]))
    fast = registry.ALGORITHMS["imaml"].adapt({"params": params}, tasks.x_support, tasks.y_support, config, 2)
    assert all(np.array_equal(a, b) for a, b in
               zip(fast, imaml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, 0.01, 2, 5.0, newton_cg)))
    if newton_cg:  # the flag reaches the module: Newton steps are not gradient steps
        plain = imaml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, 0.01, 2, 5.0)
        assert not all(np.array_equal(a, b) for a, b in zip(fast, plain))


def test_imaml_refuses_zero_cg_steps(tmp_path):
    with pytest.raises(train.ConfigError, match="cg_steps must be an integer >= 1, got 0"):
        train.start(tmp_path / "run", train.make_config("imaml", cg_steps=0))


def test_first_order_maml_treats_the_inner_gradient_as_a_constant():
    """fomaml's direction is the gradient of the query loss at the adapted weights, taken as if they were
    theta plus a constant: here computed by hand, and not MAML's exact (second-order) gradient."""
    rng = np.random.default_rng(0)
    params, tasks = mlp.init(rng, (1, 8, 1)), sinusoid.sample_tasks(rng, 4, 5, 5)
    config = train.make_config("fomaml", inner_lr=0.1, inner_steps=2)
    _, g = registry.ALGORITHMS["fomaml"].loss_and_grad({"params": params}, tasks, config, 1)
    fast = maml.adapt(params, tasks.x_support, tasks.y_support, mlp.mse, 0.1, 2)
    per_task = grad(lambda w: anp.sum(mlp.mse(w, tasks.x_query, tasks.y_query)))(fast)  # (T,) + p.shape each
    assert all(np.allclose(a, b.mean(axis=0), rtol=1e-10, atol=1e-12) for a, b in zip(g["params"], per_task))
    _, exact = registry.ALGORITHMS["maml"].loss_and_grad({"params": params}, tasks, dict(config, algorithm="maml"), 1)
    assert not all(np.allclose(a, b, rtol=1e-3) for a, b in zip(g["params"], exact["params"]))


def test_the_readme_documents_the_training_defaults():
    """Every `[--flag VALUE]` of the `train` line of tinymeta/lab/README.md (the command line's reference), and
    each algorithm's own options given there as `ALGO` (`--flag VALUE ...`), is the default make_config gives."""
    readme = (Path(__file__).parent.parent / "tinymeta" / "lab" / "README.md").read_text()
    text = " ".join(readme[readme.index("- `train ALGO"):].split("\n- ")[0].split())  # that item of the list
    documented = {None: re.findall(r"\[--([a-z-]+) ([0-9.][0-9. ]*)\]", text)}
    documented.update({algo: re.findall(r"--([a-z-]+) ([0-9.]+)", flags)
                       for algo, flags in re.findall(r"`([a-z]+)` \(`(--[^`]*)`", text)})
    assert set(documented) >= {None, "imaml", "cavia"} and len(documented[None]) >= 7, documented
    for algo, flags in documented.items():
        config = train.make_config(algo or "maml")
        for flag, value in flags:
            assert value.split() == [str(v) for v in np.ravel(config[flag.replace("-", "_")])] or \
                float(value) == config[flag.replace("-", "_")], (algo, flag, value)
