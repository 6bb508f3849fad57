"""tinymeta/lab/plot.py: a PNG for every registered algorithm, and below the fits exactly the meta-learned
things the run has (learned rates, curvature), drawing the numbers of the checkpoint.

Runs use a tiny network (--hidden 8) and a few iterations so the file stays fast.
"""
import struct

import numpy as np
import pytest

from tinymeta.lab import plot  # first: it chooses matplotlib's Agg backend
import matplotlib.pyplot as plt  # noqa: E402

from tinymeta import mlp  # noqa: E402
from tinymeta.lab import registry, train  # noqa: E402

# What each algorithm learns beyond an initialisation; every registered algorithm must be listed.
SECTIONS = {"maml": [], "fomaml": [], "reptile": [], "pretrain": [], "anil": [],
            "metasgd": ["weight rates"], "lslr": ["step rates"], "metacurvature": ["curvature"],
            "enhanced": ["step rates", "curvature"], "imaml": [], "cavia": []}


def png_size(path):
    """(width, height) from a PNG's header."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def titled(fig, words):
    return [ax for ax in fig.axes if words in ax.get_title()]


def draw(run_dir, path):
    config, state, algorithm = train.load(run_dir)
    fig = plot.figure(state["meta"], algorithm, config, state["history"], train.task_stream(1, "evaluate"), path)
    return fig, state["meta"], config


def tiny_run(tmp_path, name, **options):
    config = train.make_config(name, hidden=[8], meta_batch=2, shots=5, iterations=3, **options)
    train.start(tmp_path / "run", config)
    train.run(tmp_path / "run", 3, quiet=True)
    return tmp_path / "run"


def test_every_algorithm_is_listed():
    assert sorted(SECTIONS) == sorted(registry.ALGORITHMS)


@pytest.mark.parametrize("name", list(registry.ALGORITHMS))
def test_plot_draws_what_the_run_meta_learned(tmp_path, name):
    run = tiny_run(tmp_path, name, inner_steps=2)
    fig, meta, config = draw(run, tmp_path / "plot.png")
    assert plot.meta_sections(meta) == SECTIONS[name]
    width, height = png_size(tmp_path / "plot.png")
    assert width == 1200 and (height > 750) == bool(SECTIONS[name])  # 750: the fits and the curve alone
    assert len(titled(fig, "test task")) == 3 and len(titled(fig, "meta-training curve")) == 1  # the fits and the curve
    assert [ax.get_ylabel() for ax in titled(fig, "test task")] == ["y", "", ""]
    sections = {ax.figure._suptitle.get_text() for ax in fig.axes if ax.figure is not fig and ax.figure._suptitle}
    rates = [s for s in sections if "per parameter array and inner step" in s]
    weights = [s for s in sections if "per-weight learning rates" in s]
    heat_maps = [ax for ax in fig.axes if ax.images]
    assert len(rates) == ("step rates" in SECTIONS[name]) and len(weights) == ("weight rates" in SECTIONS[name])
    assert len(heat_maps) == (2 if "curvature" in SECTIONS[name] else 0)  # M_out of W1 (1, 8), M_in of W2 (8, 1)
    if rates:
        check_step_rates(fig, meta, config)
    if weights:
        check_weight_rates(fig, meta)
    if heat_maps:
        check_curvature(fig, meta)


def panels(fig, section):
    """The axes of the section whose title holds `section`, in order."""
    return [ax for ax in fig.axes if ax.figure is not fig and section in ax.figure._suptitle.get_text()]


def check_step_rates(fig, meta, config):
    """LSLR's bars are meta["lr"], trained away from the initial rate: a panel per array, a bar per step."""
    axes = panels(fig, "per parameter array and inner step")
    heights = np.array([[bar.get_height() for bar in ax.patches] for ax in axes])  # (arrays, steps)
    assert heights.shape == (4, 2) and np.array_equal(heights.T, meta["lr"])
    assert not np.allclose(meta["lr"], config["inner_lr"])
    assert [ax.get_title() for ax in axes] == ["W1", "b1", "W2", "b2"]


def check_weight_rates(fig, meta):
    """Meta-SGD's dots are every weight's rate, a panel per array; a lone rate is written as its number."""
    axes = panels(fig, "per-weight learning rates")
    assert [ax.get_title() for ax in axes] == ["W1 (1×8)", "b1 (8,)", "W2 (8×1)", "b2 (1,)"]
    dots = [[line.get_ydata() for line in ax.lines if line.get_marker() == "."] for ax in axes]
    assert all(len(d) == 1 and np.array_equal(d[0], np.ravel(r)) for d, r in zip(dots[:3], meta["lr"]))
    assert not dots[3] and [t.get_text() for t in axes[3].texts] == [f"{meta['lr'][3][0]:+.3g}"]


def check_curvature(fig, meta):
    """Heat maps of M - I on a colour scale centred on 0, bars of m - 1, titled by array and shape; a 1×1 matrix
    and a lone bias written as their number (on its own scale a single cell is always the darkest colour)."""
    assert any(np.any(m != np.eye(len(m))) for c in meta["curvature"][::2] for m in c)  # trained away from I
    for i, name in ((0, "W1"), (2, "W2")):
        for m, which in zip(meta["curvature"][i], ("in", "out")):
            (ax,) = titled(fig, f"{name}: M_{which} − I ({m.shape[0]}×{m.shape[1]})")
            d = m - np.eye(len(m))
            if d.size == 1:
                assert not ax.images and [t.get_text() for t in ax.texts] == [f"{d[0, 0]:+.3g}"]
                continue
            drawn = ax.images[0]
            assert np.array_equal(drawn.get_array(), d) and drawn.norm.vmin == -drawn.norm.vmax == -np.max(np.abs(d))
    (ax,) = titled(fig, "b1: m − 1")
    assert np.array_equal([bar.get_height() for bar in ax.patches], meta["curvature"][1] - 1)
    (ax,) = titled(fig, "b2: m − 1")
    assert not ax.patches and [t.get_text() for t in ax.texts] == [f"{meta['curvature'][3][0] - 1:+.3g}"]


def test_untrained_curvature_is_drawn_as_zero():
    """Fresh from init (pairs are tuples here, lists after a checkpoint): M - I = 0 is white on a ±1 scale."""
    config = train.make_config("metacurvature", hidden=[4])
    meta = registry.ALGORITHMS["metacurvature"].init(mlp.init(np.random.default_rng(0), (1, 4, 1)), config)
    assert isinstance(meta["curvature"][0], tuple)
    fig = plt.figure(layout="constrained")
    plot.draw_curvature(fig, meta, config)
    heat_maps = [ax.images[0] for ax in fig.axes if ax.images]
    plt.close(fig)
    assert len(heat_maps) == 2 and all(not np.any(h.get_array()) and h.norm.vmax == 1 for h in heat_maps)  # 4x4


def test_without_a_history_there_is_no_curve_and_the_bar_numbers_stay_inside(tmp_path):
    """A run read from a meta.npz (no history): the fits and the learned rates, no empty curve panel; every
    number over an LSLR bar lies inside its axes, not on the frame."""
    run = tiny_run(tmp_path, "lslr", inner_steps=1)
    config, state, algorithm = train.load(run)
    fig = plot.figure(state["meta"], algorithm, config, None, train.task_stream(1, "evaluate"), tmp_path / "p.png")
    assert not titled(fig, "meta-training curve") and len(titled(fig, "test task")) == 3
    assert png_size(tmp_path / "p.png") == (1200, 750)  # (4.5 + 3) inches at 100 dpi
    axes = panels(fig, "per parameter array and inner step")
    assert len(axes) == 4
    fig.canvas.draw()
    for ax in axes:
        inside = ax.get_window_extent()
        (text,) = ax.texts
        box = text.get_window_extent()
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1, text.get_text()


def test_the_png_says_what_it_draws(tmp_path):
    """The PNG holds the digest of what the figure draws (pictures.save), which changes with what is drawn."""
    from tinymeta.lab import pictures
    run = tiny_run(tmp_path, "lslr", inner_steps=1)
    config, state, algorithm = train.load(run)
    digests = []
    for seed in (1, 1, 2):
        plot.figure(state["meta"], algorithm, config, None, train.task_stream(seed, "evaluate"), tmp_path / "p.png")
        digests.append(pictures.stored(tmp_path / "p.png"))
    fresh = plot.draw(state["meta"], algorithm, config, None, train.task_stream(1, "evaluate"))
    assert digests[0] == digests[1] == pictures.drawn(fresh) != digests[2]
    plt.close(fresh)


def test_a_few_exploding_batches_are_drawn_off_the_top_and_said_in_words(tmp_path):
    """The training curve keeps its scale when a few meta-batches blew up, and says so in words."""
    run = tiny_run(tmp_path, "maml")
    config, state, algorithm = train.load(run)
    history = np.linspace(3.0, 0.5, 1000)
    history[[100, 400]] = 5.4e57, 2.0e3
    fig = plot.draw(state["meta"], algorithm, config, history, train.task_stream(1, "evaluate"))
    (ax,) = titled(fig, "meta-training curve")
    plt.close(fig)
    assert ax.get_ylim()[1] < 2.0e3
    assert [t.get_text() for t in ax.texts] == ["off the top: 2 iterations whose meta-batch blew up in adaptation "
                                                "(meta-loss up to 5e+57); training went on"]
