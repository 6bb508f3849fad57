"""MAML++ training options: derivative-order annealing, the annealed multi-step loss, cosine meta-lr."""
import signal

import numpy as np
import pytest
from autograd import grad

from test_cli import TINY, assert_same_checkpoint, run_cli
from tinymeta import enhanced, maml, metasgd, mlp, sinusoid
from tinymeta.lab import registry, train


def problem():
    rng = np.random.default_rng(3)
    return mlp.init(rng, (1, 8, 1)), sinusoid.sample_tasks(rng, 4, 5, 5)


def test_first_order_iterations_switch_to_the_exact_gradient():
    params, tasks = problem()
    config = train.make_config("maml", first_order_iterations=3)
    first = grad(maml.meta_loss)(params, tasks, mlp.mse, 0.01, 1, True)
    exact = grad(maml.meta_loss)(params, tasks, mlp.mse, 0.01, 1, False)
    assert not np.allclose(first[0], exact[0])
    for iteration, expected in ((1, first), (3, first), (4, exact)):
        _, g = registry.ALGORITHMS["maml"].loss_and_grad({"params": params}, tasks, config, iteration)
        assert all(np.array_equal(a, b) for a, b in zip(g["params"], expected)), iteration


def test_first_order_iterations_reach_the_learned_rates_too():
    params, tasks = problem()
    meta = metasgd.init(params, 0.01)
    config = train.make_config("metasgd", first_order_iterations=1)
    for iteration, fo in ((1, True), (2, False)):
        _, g = registry.ALGORITHMS["metasgd"].loss_and_grad(meta, tasks, config, iteration)
        expected = grad(metasgd.meta_loss)(meta, tasks, mlp.mse, 1, fo)
        assert np.array_equal(g["lr"][0], expected["lr"][0])


def test_msl_iterations_use_the_annealed_step_weights_then_the_final_step():
    params, tasks = problem()
    config = train.make_config("enhanced", inner_steps=3, msl_iterations=10)
    meta = registry.ALGORITHMS["enhanced"].init(params, config)
    for iteration in (1, 10, 11):
        loss, _ = registry.ALGORITHMS["enhanced"].loss_and_grad(meta, tasks, config, iteration)
        weights = enhanced.msl_weights(3, iteration - 1, 10) if iteration <= 10 else None
        assert loss == enhanced.meta_loss(meta, tasks, mlp.mse, weights)
    assert not np.allclose(enhanced.msl_weights(3, 0, 10), [0, 0, 1])


def test_cosine_meta_lr():
    config = train.make_config("maml", iterations=100, meta_lr=0.002)
    assert train.meta_lr(config, 1) == train.meta_lr(config, 100) == 0.002
    config["cosine"] = True
    assert train.meta_lr(config, 1) == 0.002
    assert train.meta_lr(config, 51) == pytest.approx(0.001)
    assert 0 < train.meta_lr(config, 100) < 1e-6


def test_interrupted_and_resumed_with_every_schedule_is_bit_identical(capsys, tmp_path, monkeypatch):
    """Ctrl-C at iteration 4 of 10, then resume to 10: the same bits as never stopping. (The cosine is
    planned over the run's --iterations: resuming to a different total re-plans it from there on.)"""
    flags = ["--inner-steps", 2, "--first-order-iterations", 4, "--msl-iterations", 7, "--cosine", "--iterations", 10]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert run_cli(capsys, "train", "enhanced", *TINY, *flags, "--out", whole)[0] == 0
    entry = registry.ALGORITHMS["enhanced"]

    def ctrl_c_at_4(meta, tasks, config, iteration):
        if iteration == 4:
            signal.raise_signal(signal.SIGINT)
        return entry.loss_and_grad(meta, tasks, config, iteration)
    monkeypatch.setitem(registry.ALGORITHMS, "enhanced", entry._replace(loss_and_grad=ctrl_c_at_4))
    assert run_cli(capsys, "train", "enhanced", *TINY, *flags, "--out", parts)[0] == 130
    monkeypatch.setitem(registry.ALGORITHMS, "enhanced", entry)
    assert run_cli(capsys, "train", "--resume", parts)[0] == 0
    assert_same_checkpoint(whole, parts)


def test_options_belong_to_their_algorithms(capsys):
    status, _, err = run_cli(capsys, "train", "reptile", "--msl-iterations", 5, "--iterations", 1, "--quiet")
    assert status == 2 and "reptile does not take msl_iterations" in err
    status, _, err = run_cli(capsys, "train", "maml", "--first-order-iterations", "-3")
    assert status == 2 and "'-3'" in err


def test_clip_scales_a_long_meta_gradient_down_and_leaves_a_short_one():
    from tinymeta.lab import optim
    grads = {"params": [np.array([3.0, 0.0]), np.array([[4.0]])], "lr": np.array([0.0])}  # norm 5
    clipped = optim.clip(grads, 1.0)
    assert np.allclose(optim.flatten(clipped)[0], [0.0, 0.6, 0.0, 0.8])  # dict keys sorted: lr first
    assert optim.clip(grads, 5.0) is grads
    huge = optim.clip({"params": [np.array([3e200, -4e200])]}, 10.0)  # its square overflows float64
    assert np.allclose(huge["params"][0], [6.0, -8.0])


def test_training_clips_every_meta_gradient_before_adam(tmp_path):
    """Three iterations with --clip equal a loop written out here: sample, meta-gradient, clip, Adam."""
    from tinymeta.lab import optim
    config = train.make_config("lslr", hidden=[6], meta_batch=3, shots=4, iterations=3, inner_steps=2, clip=0.5)
    train.start(tmp_path / "run", config)
    _, state = train.run(tmp_path / "run", 3, quiet=True)
    rng = train.task_stream(0, "train")
    meta = registry.ALGORITHMS["lslr"].init(mlp.init(rng, (1, 6, 1)), config)
    n = optim.flatten(meta)[0].size
    adam_state, norms = (0, np.zeros(n), np.zeros(n)), []
    for iteration in (1, 2, 3):
        _, g = registry.ALGORITHMS["lslr"].loss_and_grad(meta, sinusoid.sample_tasks(rng, 3, 4, 4), config, iteration)
        norms.append(np.linalg.norm(optim.flatten(g)[0]))
        g = optim.clip(g, 0.5)
        meta, adam_state = optim.adam(meta, g, adam_state, 0.001)
    assert min(norms) > 0.5  # clipping acted at every iteration
    assert np.array_equal(optim.flatten(state["meta"])[0], optim.flatten(meta)[0])
    assert "clip" not in train.make_config("lslr")  # configurations without it stay as they were


@pytest.mark.parametrize("cosine", [False, True])
def test_training_equals_a_loop_written_out_by_hand(tmp_path, cosine):
    """train.run against an independent computation: the meta-batches drawn in order from the seed's
    training stream, the MAML gradient of maml.meta_loss, and per-array textbook Adam with the rate of
    iteration i written out, meta_lr (1 + cos(pi (i - 1) / N)) / 2: a rate taken one iteration late, or
    any other slip in the update, shows here (resuming compares the code only with itself)."""
    n, lr = 6, 0.01
    config = train.make_config("maml", hidden=[8], meta_batch=4, shots=5, iterations=n, meta_lr=lr, cosine=cosine)
    train.start(tmp_path, config)
    _, state = train.run(tmp_path, n, quiet=True)
    rng = train.task_stream(0, "train")
    params = mlp.init(rng, (1, 8, 1))
    m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    for i in range(1, n + 1):
        tasks = sinusoid.sample_tasks(rng, 4, 5, 5)
        g = grad(maml.meta_loss)(params, tasks, mlp.mse, 0.01, 1)
        rate = lr * (1 + np.cos(np.pi * (i - 1) / n)) / 2 if cosine else lr
        m = [0.9 * a + 0.1 * b for a, b in zip(m, g)]
        v = [0.999 * a + 0.001 * b ** 2 for a, b in zip(v, g)]
        params = [p - rate * (a / (1 - 0.9 ** i)) / (np.sqrt(b / (1 - 0.999 ** i)) + 1e-8) for p, a, b in zip(params, m, v)]
    for mine, theirs in zip(state["meta"]["params"], params):
        assert np.allclose(mine, theirs, rtol=1e-12, atol=1e-14)
    assert state["rng"].bit_generator.state == rng.bit_generator.state
