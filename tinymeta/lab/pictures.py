"""A figure saved as a PNG that says what it draws, so that a test can tell a committed PNG drawn by today's code
from one drawn by older code without comparing pixels (which change with the matplotlib version).

`drawn(figure)` is a digest of the figure's data; `save` stores it in the PNG's Description text chunk as
"drawn DIGEST"; `stored` reads it back. tutorials/render.py stores the same digest in the figures of the
tutorials' code blocks; tests/test_figures.py compares every committed PNG's with its code's.
"""
import hashlib
import struct

import numpy as np


def drawn(figure):
    """A digest of what a figure draws, in data coordinates, numbers to 6 significant digits: its size, texts,
    titles, labels, legends, scales and limits, lines, points, patches and images (not their colours or
    styles). The same with any matplotlib version, unlike the pixels."""
    parts = [repr(figure)]
    for fig in figures(figure):  # the figure and its subfigures: their titles and legends
        parts += [[t.get_text() for t in fig.texts], [t.get_text() for legend in fig.legends for t in legend.get_texts()]]
    for ax in figure.axes:  # every axes, those of subfigures included
        legend = ax.get_legend()
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale(), ax.get_yscale()]
        parts += [ax.get_xlim(), ax.get_ylim(), [t.get_text() for t in legend.get_texts()] if legend else None]
        parts += [(t.get_text(), t.get_position()) for t in ax.texts]
        parts += [line.get_xydata() for line in ax.lines] + [image.get_array() for image in ax.images]
        parts += [(c.get_offsets(), [path.vertices for path in c.get_paths()]) for c in ax.collections]
        parts += [p.get_patch_transform().transform(p.get_path().vertices) for p in ax.patches]

    def text(part):
        if isinstance(part, (list, tuple)):
            return "(" + ",".join(map(text, part)) + ")"
        if isinstance(part, str) or part is None:
            return repr(part)
        return " ".join(f"{x:.6g}" for x in np.ravel(np.ma.filled(np.ma.asarray(part, float), np.nan)))
    return hashlib.sha256("\n".join(map(text, parts)).encode()).hexdigest()[:16]


def figures(figure):
    """The figure and its subfigures, depth first."""
    return [figure] + [f for sub in getattr(figure, "subfigs", []) for f in figures(sub)]


def save(figure, path, **options):
    """figure.savefig(path, **options), a PNG holding "drawn DIGEST" (see `drawn`), and close the figure.
    (Another file type, such as .pdf, is written as savefig writes it.)"""
    import matplotlib.pyplot as plt  # the caller has chosen the backend
    png = str(path).lower().endswith(".png")
    figure.savefig(path, metadata={"Description": "drawn " + drawn(figure)} if png else None, **options)
    plt.close(figure)


def png_text(png):
    """The text chunks (tEXt) of a PNG file's bytes, as a dict: `save` puts the figure's digest there."""
    found, at = {}, 8  # after the signature, chunks: length (4 bytes), type (4), data, checksum (4)
    while at + 8 <= len(png):
        size, kind = struct.unpack(">I4s", png[at:at + 8])
        if kind == b"tEXt":
            key, _, value = png[at + 8:at + 8 + size].partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        at += 12 + size
    return found


def stored(path):
    """The digest a PNG file says it draws (written by `save` or tutorials/render.py), or None."""
    with open(path, "rb") as f:
        description = png_text(f.read()).get("Description", "")
    return description[len("drawn "):] if description.startswith("drawn ") else None
