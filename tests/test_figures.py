"""Every PNG under results/ and tutorials/figures/ is drawn by today's code: each holds a digest of what it draws
(tinymeta/lab/pictures.py: lines, points, patches, images, texts, limits, in data coordinates), and the code that
draws it, run now, draws the same. Nothing is saved or rendered here: the figures are built and their digests
compared, so that the check costs what computing the figures costs (the tutorial figures' short trainings, about
ten seconds).

Which code draws which PNG: results/figures.py's `every` for results/ (from the committed runs' files), `make
demo` for results/demo-plot.png (a copy of runs/demo/plot.png), tutorials/figures.py's FIGURES for
tutorials/figures/, and tutorials/render.py for the figures of tutorial code blocks (tests/test_tutorials.py
checks those).
"""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tinymeta.lab import figures, pictures, report  # noqa: E402

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "results"
spec = importlib.util.spec_from_file_location("tutorial_figures", ROOT / "tutorials" / "figures.py")
tutorial_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tutorial_figures)
DEMO = "demo-plot.png"  # `make demo` draws it: test_the_demo_figure_is_what_make_demo_draws_now
RENDERED = re.compile(r"[0-9]+-.+-[0-9]+(-[0-9]+)?\.png")  # tutorials/render.py's names: tests/test_tutorials.py


def digest(make):
    figure = make()
    try:
        return pictures.drawn(figure)
    finally:
        plt.close(figure)


def stale(path, make, command):
    """Why the PNG at `path` is not what `make` draws now, or None."""
    stored, name = pictures.stored(path), path.name if ROOT not in path.parents else path.relative_to(ROOT)
    if stored is None:
        return f"{name} holds no digest of what it draws: {command} draws it anew"
    if stored != digest(make):
        return f"{name} is not what today's code draws: {command} draws it anew"
    return None


def test_every_png_of_results_is_what_figures_py_draws_now():
    made = figures.every(str(RESULTS), report.load(str(RESULTS)))
    committed = {p.relative_to(RESULTS).as_posix() for p in RESULTS.rglob("*.png")} - {DEMO}
    assert committed == set(made), (f"drawn by no code: {sorted(committed - set(made))}; "
                                    f"not committed: {sorted(set(made) - committed)}")
    found = [stale(RESULTS / path, make, "python -m tinymeta.lab.reproduce table") for path, make in made.items()]
    assert not any(found), "\n".join(filter(None, found))


def test_every_tutorial_figure_is_what_tutorials_figures_py_draws_now():
    folder = ROOT / "tutorials" / "figures"
    committed = {p.name for p in folder.glob("*.png") if not RENDERED.fullmatch(p.name)}
    assert committed == set(tutorial_figures.FIGURES), committed ^ set(tutorial_figures.FIGURES)
    found = [stale(folder / name, make, f"python tutorials/figures.py --only {name}")
             for name, make in tutorial_figures.FIGURES.items()]
    assert not any(found), "\n".join(filter(None, found))


def test_the_demo_figure_is_what_make_demo_draws_now(tmp_path):
    """`make demo` (5,000 iterations) prints an evaluation and draws runs/demo/plot.png; tinymeta/lab/README.md
    shows both, the figure as its copy results/demo-plot.png."""
    demo = subprocess.run([sys.executable, "-m", "tinymeta", "demo", "--out", str(tmp_path / "demo"), "--quiet"],
                          capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr[-3000:]
    printed = demo.stdout
    assert pictures.stored(RESULTS / DEMO) == pictures.stored(tmp_path / "demo" / "plot.png") is not None, \
        "results/demo-plot.png is not what `make demo` draws: run it and copy runs/demo/plot.png"
    table = printed[printed.index("maml after"):printed.index("wrote ")].rstrip("\n")
    assert "\n".join("    " + line for line in table.splitlines()) in (ROOT / "tinymeta" / "lab" / "README.md").read_text(), \
        "tinymeta/lab/README.md does not show what `make demo` prints:\n" + table


def test_in_the_steps_figure_no_two_runs_share_a_colour_in_a_panel_and_a_panel_has_few():
    """sinusoid-steps.png: each panel's runs (its legend) have colours no other run of the panel has, at most 7
    runs a panel, and the fraction of tasks diverged has panels of its own."""
    figure = figures.steps(report.load(str(RESULTS)))
    panels = [ax for ax in figure.axes if ax.get_legend()]
    assert len(panels) == len(figure.axes) == 2 * (len(figures.PANELS) + 1)
    for ax in panels:
        runs = [(line.get_label(), line.get_color()) for line in ax.lines if not line.get_label().startswith("_")]
        colours = [matplotlib.colors.to_hex(c) for name, c in runs if not name.startswith("published")]
        assert 2 <= len(colours) <= 7 and len(set(colours)) == len(colours), (ax.get_title(), runs)
    assert sum("diverged" in ax.get_title() for ax in panels) == 2


def test_the_true_function_is_drawn_on_top_of_the_predictions():
    for figure in (figures.examples(str(RESULTS)), figures.run_figure(str(RESULTS), "lslr-k5")):
        for ax in figure.axes:
            truth = [line for line in ax.lines if line.get_label() == "true function"]
            if truth:
                below = [line for line in ax.lines if line.get_label().startswith(("before", "after"))]
                assert len(below) == 3 and all(line.get_zorder() < truth[0].get_zorder() for line in below)
        plt.close(figure)


def test_a_stale_or_unmarked_png_is_found(tmp_path):
    """The check sees a figure that draws something else, and a PNG without a digest (an older writer's)."""
    def line(slope):
        figure = plt.figure()
        figure.add_subplot().plot([0, 1], [0, slope])
        return figure
    png = tmp_path / "f.png"
    pictures.save(line(1), png)
    assert stale(png, lambda: line(1), "cmd") is None
    assert "not what today's code draws" in stale(png, lambda: line(1.0001), "cmd")
    plt.figure().savefig(png)
    plt.close("all")
    assert "holds no digest" in stale(png, lambda: line(1), "cmd")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")

