"""Show what every tutorial prints and draws under its code, and write it as a notebook: `make tutorials`.

`python tutorials/render.py [NAME.md ...]` (default: every tutorials/[0-9]*.md) executes the ```python blocks
of a tutorial in order in one fresh interpreter, in an empty temporary folder with matplotlib's Agg backend.
At the end of each block the figures it left open are saved and closed, as Jupyter's inline backend does.
Then it writes
- under each block that printed or drew something, between `<!-- output -->` and `<!-- /output -->`, the
  printed text and a link to each figure, saved as figures/NAME-BLOCK.png; the region is regenerated on
  every run, so edit the code, never the region;
- beside the tutorial, NAME.ipynb: the prose as markdown cells, the blocks as code cells, their outputs;
and deletes the notebooks and figures it wrote that no tutorial shows any more. Files that are up to date
are left alone; `--check` writes nothing and exits with 1 if one is stale. tests/test_tutorials.py runs
every tutorial once this way and fails when a file is stale (`stale` says what that means).
"""
import argparse
import base64
import difflib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.image
import numpy as np

from tinymeta.lab.pictures import drawn, png_text  # the digest of what a figure draws, and reading it back

HERE = Path(__file__).resolve().parent
BLOCK = re.compile(r"^```python\n(.*?)^```[ \t]*\n", re.S | re.M)
OUTPUT = re.compile(r"\n*<!-- output -->\n.*?<!-- /output -->\n", re.S)
IMAGE = re.compile(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)")


class Failed(Exception):
    """A tutorial's block raised, or the interpreter running it died."""


# Runs in the fresh interpreter: reads [name, [[line, code], ...]] on stdin, writes one JSON list (per block:
# printed text, figures as from `picture` with the PNG in base64) to the stdout it started with. While a block
# runs, its print()s go into a buffer, and anything written below Python (a C library, a child process) to
# stderr. At the end of each block its open figures are saved and closed, as Jupyter's inline backend does.
DRIVER = r'''
import ast, base64, contextlib, importlib.util, io, json, os, sys, traceback
name, blocks = json.load(sys.stdin)
channel = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
namespace = {"__name__": "__main__"}
outputs = []

def fail(where, printed, why=None):
    sys.stderr.write(printed.getvalue())
    if why is None:
        traceback.print_exc()
    else:
        print(why, file=sys.stderr)
    print(f"FAILED: {where}", file=sys.stderr)
    sys.exit(1)

for number, (line, code) in enumerate(blocks, 1):
    where = f"{name}, block {number} (line {line})"
    printed = io.StringIO()
    try:
        tree = ast.parse(code, where)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        with contextlib.redirect_stdout(printed):
            exec(compile(tree, where, "exec"), namespace)
            value = None if last is None else eval(compile(ast.Expression(last.value), where, "eval"), namespace)
    except BaseException:
        fail(where, printed)
    if value is not None and not code.rstrip().endswith(";"):
        fail(where, printed, f"the block ends with an expression whose value Jupyter would show "
                             f"({type(value).__name__}): assign it, print it, or end the line with ';'")
    figures, plt = [], sys.modules.get("matplotlib.pyplot")
    if plt and plt.get_fignums():
        spec = importlib.util.spec_from_file_location("tutorials_render", sys.argv[1])  # this file
        render = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(render)
        for figure in map(plt.figure, plt.get_fignums()):
            shown = render.picture(figure)
            figures.append(dict(shown, png=base64.b64encode(shown["png"]).decode()))
        plt.close("all")
    outputs.append({"printed": printed.getvalue(), "figures": figures})
json.dump(outputs, channel)
'''


def titles(figure):
    """A figure's suptitle and the titles of its axes, for the image's alt text."""
    suptitle = getattr(figure, "_suptitle", None)  # get_suptitle() from matplotlib 3.8 on
    found = [suptitle.get_text()] if suptitle is not None else []
    return "; ".join(t for t in found + [ax.get_title() for ax in figure.axes] if t)


def picture(figure):
    """A figure as the writer shows it: {"png": bytes, with the digest of what it draws stored in the PNG,
    "drawn": that digest, "title": its titles, "repr": its size and number of axes, as Jupyter shows them}."""
    png, digest = io.BytesIO(), drawn(figure)
    figure.savefig(png, format="png", bbox_inches="tight", metadata={"Description": "drawn " + digest})
    return {"png": png.getvalue(), "drawn": digest, "title": titles(figure), "repr": repr(figure)}


def tutorials():
    """Every numbered tutorial, in order."""
    return sorted(HERE.glob("[0-9]*.md"))


def cut(text):
    """The tutorial as its author wrote it (the Markdown without the output regions), and where the regions
    were: [(offset in that text, number of lines taken out)]."""
    kept, cuts, at = [], [], 0
    for region in OUTPUT.finditer(text):
        kept.append(text[at:region.start()] + "\n")
        cuts.append((sum(map(len, kept)), region.group().count("\n") - 1))
        at = region.end()
    return "".join(kept) + text[at:], cuts


def source(text):
    """The tutorial as its author wrote it: the Markdown without the output regions."""
    return cut(text)[0]


def blocks(text):
    """The ```python blocks of a tutorial: (line of its first code line in `text`, code)."""
    plain, cuts = cut(text)
    return [(plain[:m.start()].count("\n") + 2 + sum(n for at, n in cuts if at <= m.start()), m.group(1))
            for m in BLOCK.finditer(plain)]


def execute(name, code, folder):
    """Run the blocks `code` ([(line, code)], as from `blocks`) in order in one fresh interpreter in `folder`;
    returns, per block, what it printed and the figures it left open ({"printed": str, "figures": [picture]}).
    Raises Failed naming the block that raised, with the end of its traceback."""
    run = subprocess.run([sys.executable, "-c", DRIVER, str(Path(__file__).resolve())], cwd=folder,
                         input=json.dumps([name, code]), env=dict(os.environ, MPLBACKEND="Agg"),
                         capture_output=True, text=True)
    if run.returncode != 0:
        failed = [line for line in run.stderr.splitlines() if line.startswith("FAILED:")]
        raise Failed((failed[-1] if failed else f"{name} exited {run.returncode}") + "\n" + run.stderr[-3000:])
    outputs = json.loads(run.stdout)
    for output in outputs:
        for figure in output["figures"]:
            figure["png"] = base64.b64decode(figure["png"])
    return outputs


def figure_names(stem, outputs):
    """figures/STEM-BLOCK.png for a block's one figure, figures/STEM-BLOCK-I.png if it draws several."""
    return [[f"figures/{stem}-{b}.png" if len(out["figures"]) == 1 else f"figures/{stem}-{b}-{i}.png"
             for i in range(1, len(out["figures"]) + 1)] for b, out in enumerate(outputs, 1)]


def fence(text):
    """A ``` fence longer than any run of backticks in `text`."""
    return "`" * max([3] + [len(run) + 1 for run in re.findall(r"`{3,}", text)])


def region(output, names):
    """The Markdown shown under a block: its printed text and its figures."""
    lines = ["<!-- output -->"]
    if output["printed"]:
        text = output["printed"] if output["printed"].endswith("\n") else output["printed"] + "\n"
        lines += [fence(text) + "text", text + fence(text)]
    for figure, name in zip(output["figures"], names):
        alt = re.sub(r"[\[\]\n]", " ", figure["title"]) or "figure"
        lines.append(f"![{alt}]({name})")
    return "\n".join(lines + ["<!-- /output -->"]) + "\n"


def markdown(text, outputs, stem):
    """The tutorial `text` with a freshly written output region under every block that printed or drew."""
    text, parts, at = source(text), [], 0
    for match, output, names in zip(BLOCK.finditer(text), outputs, figure_names(stem, outputs)):
        parts.append(text[at:match.end()])
        at = match.end()
        if output["printed"] or output["figures"]:
            parts.append("\n" + region(output, names))
    return "".join(parts) + text[at:]


def lines(text):
    """Text as a notebook stores it: a list of lines, each with its newline but the last."""
    return text.splitlines(keepends=True)


def notebook(text, outputs, pngs=None):
    """The tutorial as a Jupyter notebook (nbformat 4.5): prose as markdown cells, blocks as code cells, their
    outputs as a fresh kernel would show them: printed text as a stdout stream, figures as PNG (`pngs`, one
    bytes per figure in order; default: those in `outputs`)."""
    text, cells, at = source(text), [], 0
    pngs = iter(pngs if pngs is not None else [f["png"] for out in outputs for f in out["figures"]])

    def prose(chunk):
        if chunk.strip("\n"):
            cells.append({"cell_type": "markdown", "id": f"cell-{len(cells) + 1}", "metadata": {},
                          "source": lines(chunk.strip("\n"))})

    for number, (match, output) in enumerate(zip(BLOCK.finditer(text), outputs), 1):
        prose(text[at:match.start()])
        at = match.end()
        printed = lines(output["printed"])
        shown = [{"output_type": "stream", "name": "stdout", "text": printed}] if printed else []
        shown += [{"output_type": "display_data", "metadata": {},
                   "data": {"image/png": base64.b64encode(next(pngs)).decode() + "\n", "text/plain": [f["repr"]]}}
                  for f in output["figures"]]
        cells.append({"cell_type": "code", "execution_count": number, "id": f"cell-{len(cells) + 1}",
                      "metadata": {}, "outputs": shown, "source": lines(match.group(1).rstrip("\n"))})
    prose(text[at:])
    meta = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}}
    return {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def dumps(book):
    """A notebook as JSON text, laid out as Jupyter writes it (so that saving it there changes little)."""
    return json.dumps(book, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def shows(png, figure):
    """Whether the PNG file's bytes `png` show `figure` (as from `execute`): the same digest of what it draws
    (stored in the PNG, independent of the matplotlib version) and, when the PNG was written by the
    matplotlib running now, the same pixels."""
    stored, fresh = png_text(png), png_text(figure["png"])
    if stored.get("Description") != fresh["Description"]:
        return False
    if stored.get("Software") != fresh.get("Software"):
        return True
    return np.array_equal(*(matplotlib.image.imread(io.BytesIO(b)) for b in (png, figure["png"])))


def difference(old, new, name):
    """The first lines where two versions of a text differ."""
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), f"{name} (committed)", f"{name} (now)",
                                n=1, lineterm="")
    return "\n".join(list(diff)[:30])


def stale(path, text, outputs):
    """The files of the tutorial at `path` (its Markdown `text`) that do not show what its blocks print and draw
    now (`outputs`, from `execute`): {file: (what it should hold, str or bytes; why it is stale)}."""
    found, pngs = {}, []
    names = [path.parent / name for block in figure_names(path.stem, outputs) for name in block]
    for png, figure in zip(names, [f for out in outputs for f in out["figures"]]):
        if png.exists() and shows(png.read_bytes(), figure):
            pngs.append(png.read_bytes())  # kept, so that the notebook shows the committed file
        else:
            pngs.append(figure["png"])
            found[png] = (figure["png"], "draws something else" if png.exists() else "missing")
    for file, should in ((path, markdown(text, outputs, path.stem)),
                         (path.with_suffix(".ipynb"), dumps(notebook(text, outputs, pngs)))):
        has = file.read_text() if file.exists() else ""
        if has != should:
            found[file] = (should, difference(has, should, file.name) if has else "missing")
    return found


def update(path, check=False):
    """Execute the tutorial at `path` and write its files that are stale (with `check`, write nothing);
    returns {file: why it was stale}."""
    text = path.read_text()
    with tempfile.TemporaryDirectory() as folder:
        found = stale(path, text, execute(path.name, blocks(text), folder))
    for file, (should, _) in found.items():
        if check:
            continue
        file.parent.mkdir(exist_ok=True)
        if isinstance(should, bytes):
            file.write_bytes(should)
        else:
            file.write_text(should)
    return {file: why for file, (_, why) in found.items()}


def orphans():
    """Notebooks whose tutorial is gone, and figures named as this writer names them that no tutorial shows
    (left by a tutorial renamed, or drawing fewer figures)."""
    shown = {HERE / name for path in HERE.glob("*.md") for name in IMAGE.findall(path.read_text())}
    named = re.compile(r"[0-9]+-.+-[0-9]+(-[0-9]+)?\.png")
    return sorted([book for book in HERE.glob("*.ipynb") if not book.with_suffix(".md").exists()] +
                  [png for png in HERE.glob("figures/*.png") if named.fullmatch(png.name) and png not in shown])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME.md", help="tutorials to render (default: all)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if an output is stale")
    args = parser.parse_args(argv)
    paths = [HERE / Path(name).name for name in args.names] or tutorials()
    changed = {}
    for path in paths:
        try:
            changed.update(update(path, args.check))
        except Failed as error:
            sys.exit(str(error))
    for file in orphans():
        changed[file] = "belongs to no tutorial"
        if not args.check:
            file.unlink()
    for file, why in changed.items():
        done = "stale" if args.check else "deleted" if why == "belongs to no tutorial" else "wrote"
        print(f"{done}: {file.relative_to(HERE.parent)}" + (f": {why}" if args.check else ""))
    if args.check and changed:
        sys.exit(f"{len(changed)} stale; `make tutorials` writes them")


if __name__ == "__main__":
    main()
