"""Execute every ```python block of every tutorial, in order, one fresh interpreter per tutorial, and check
that what the tutorial shows under its blocks, and its notebook beside it, are what the blocks print and
draw now (tutorials/render.py writes them, `make tutorials`; this test only reads).

The blocks run in an empty temporary folder (so they work from any directory) and must leave it
empty (tutorials write no files). A failure names the tutorial, the block and its line.

Not stale (render.stale) means, for each tutorial:
- its Markdown is the writer's from this run: under each block, exactly the text it printed, and one image
  link per figure it left open, named after the block, with the figure's titles as alt text;
- its notebook is the writer's: markdown cells the prose, code cells the blocks, outputs the printed text
  and the figures (each figure's size and number of axes as text, its committed PNG as image);
- each figure's PNG exists and draws the same: a digest of the figure's data in data coordinates (lines,
  points, patches, images, texts, titles, labels, legends, limits and scales, numbers to 6 significant
  digits), which the writer stores in the PNG, is the same now. The digest does not depend on the
  matplotlib version, the pixels do: they are compared, exactly, only when the PNG was written by the
  matplotlib running now.
"""
import importlib.util
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

ROOT = Path(__file__).parent.parent
spec = importlib.util.spec_from_file_location("render", ROOT / "tutorials" / "render.py")
render = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render)

TUTORIALS = render.tutorials()


def run(path, folder):
    """What the blocks of the tutorial at `path` print and draw, run in `folder`, which they must leave empty."""
    code = render.blocks(path.read_text())
    try:
        outputs = render.execute(path.name, code, folder)
    except render.Failed as failure:
        pytest.fail(str(failure), pytrace=False)
    assert not any(folder.iterdir()), f"{path.name} wrote files: {sorted(p.name for p in folder.iterdir())}"
    return outputs


def report(found):
    return "\n".join(f"{file.name} is stale ({why}): `make tutorials` writes it anew"
                     for file, (_, why) in found.items())


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs_and_shows_its_outputs(path, tmp_path):
    code = render.blocks(path.read_text())
    assert code, f"{path.name} has no python blocks"
    assert any("assert" in c for _, c in code), f"{path.name} checks nothing"
    found = render.stale(path, path.read_text(), run(path, tmp_path))
    assert not found, report(found)


def test_every_tutorial_is_at_most_320_lines():
    """Each tutorial teaches one idea: at most 320 lines as a reader sees it, its outputs included."""
    lengths = {path.name: len(path.read_text().splitlines()) for path in TUTORIALS}
    assert len(lengths) >= 11
    long = {name: n for name, n in lengths.items() if n > 320}
    assert not long, f"tutorials longer than 320 lines: {long}; teach the idea more tightly, or split the tutorial"


def test_every_figure_and_notebook_belongs_to_a_tutorial():
    """A renamed or shortened tutorial leaves no figure or notebook behind."""
    folder = ROOT / "tutorials"
    linked = {name for path in folder.glob("*.md") for name in render.IMAGE.findall(path.read_text())}
    assert linked, "no tutorial shows a figure"
    for png in (folder / "figures").glob("*.png"):
        assert f"figures/{png.name}" in linked, f"tutorials/figures/{png.name} is shown by no tutorial"
    for book in folder.glob("*.ipynb"):
        assert book.with_suffix(".md").exists(), f"tutorials/{book.name} has no tutorial {book.stem}.md"


def written_by(png, software):
    """The PNG with its Software text chunk saying `software`, as if another matplotlib had written it."""
    at = png.index(b"tEXtSoftware\0") - 4
    data = b"Software\0" + software.encode("latin-1")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    return png[:at] + chunk + png[at + 12 + struct.unpack(">I", png[at:at + 4])[0]:]


TOY = '''# A toy tutorial

Prose.

```python
import numpy as np
import matplotlib.pyplot as plt
x = np.linspace(0, 3, 30)
print("sum", round(float(np.sin(x).sum()), 4))
```

```python
fig, ax = plt.subplots(figsize=(3, 2))
ax.plot(x, np.sin(x))
ax.set_ylim(-1.5, 1.5)
ax.set_title("sine");  # the ';' as in Jupyter: show no value
assert x.size == 30
```

```python
print("drawn")
```
'''


def test_the_writer_shows_outputs_and_sees_them_go_stale(tmp_path):
    """The machinery on a toy tutorial: what it writes is fresh; a changed print, a changed curve, a notebook
    edited by hand or a missing PNG are stale; a block ending in a value Jupyter would show fails."""
    with pytest.raises(render.Failed, match="(?s)block 2 .*ends with an expression whose value Jupyter would show"):
        render.execute("value.md", [(1, "x = 1\n"), (3, "x + 1\n")], tmp_path)
    path = tmp_path / "01-toy.md"
    path.write_text(TOY)
    assert set(render.update(path)) == {path, path.with_suffix(".ipynb"), tmp_path / "figures/01-toy-2.png"}
    text = path.read_text()
    assert "<!-- output -->\n```text\nsum 19.29\n```\n<!-- /output -->" in text
    assert "<!-- output -->\n![sine](figures/01-toy-2.png)\n<!-- /output -->" in text
    assert [c for _, c in render.blocks(text)] == [c for _, c in render.blocks(TOY)] and render.source(text) == TOY
    starts = [i + 2 for i, line in enumerate(text.splitlines()) if line == "```python"]
    assert [line for line, _ in render.blocks(text)] == starts  # lines in the file, output regions and all
    book = json.loads(path.with_suffix(".ipynb").read_text())
    code = [cell for cell in book["cells"] if cell["cell_type"] == "code"]
    assert ["".join(cell["source"]) + "\n" for cell in code] == [c for _, c in render.blocks(text)]
    assert code[0]["outputs"] == [{"output_type": "stream", "name": "stdout", "text": ["sum 19.29\n"]}]
    assert code[1]["outputs"][0]["data"]["text/plain"] == ["<Figure size 300x200 with 1 Axes>"]

    outputs = render.execute(path.name, render.blocks(text), tmp_path)
    assert render.stale(path, text, outputs) == {}
    assert outputs[2] == {"printed": "drawn\n", "figures": []}  # block 2 closed its figure
    printed = [dict(outputs[0], printed="sum 19.3\n")] + outputs[1:]
    assert set(render.stale(path, text, printed)) == {path, path.with_suffix(".ipynb")}

    def sine(frequency, color="C0"):  # the toy's figure, drawn here
        figure = Figure(figsize=(3, 2))
        x = np.linspace(0, 3, 30)
        figure.add_subplot().plot(x, np.sin(frequency * x), color=color)
        figure.axes[0].set(ylim=(-1.5, 1.5), title="sine")
        return render.picture(figure)
    assert sine(1)["drawn"] == outputs[1]["figures"][0]["drawn"] != sine(1.01)["drawn"]
    png, book = tmp_path / "figures/01-toy-2.png", path.with_suffix(".ipynb")
    for figure, stale in ((sine(1), set()), (sine(1.01), {png, book}), (sine(1, "C1"), {png, book})):
        redrawn = outputs[:1] + [dict(outputs[1], figures=[figure])] + outputs[2:]
        assert set(render.stale(path, text, redrawn)) == stale

    # as if another matplotlib had written the PNG: kept, the notebook shows it, pixels are not compared
    png.write_bytes(written_by(png.read_bytes(), "Matplotlib version0.0"))
    found = render.stale(path, text, outputs)
    assert set(found) == {book}
    book.write_text(found[book][0])
    for figure, stale in ((sine(1), set()), (sine(1.01), {png, book}), (sine(1, "C1"), set())):
        redrawn = outputs[:1] + [dict(outputs[1], figures=[figure])] + outputs[2:]
        assert set(render.stale(path, text, redrawn)) == stale

    edited = json.loads(book.read_text())
    edited["cells"][1]["source"][-1] = 'print("sum", 19.29)'
    book.write_text(render.dumps(edited))
    png.unlink()
    assert set(render.stale(path, text, outputs)) == {book, png}
