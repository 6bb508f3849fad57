"""Few-shot classification of handwritten characters: Omniglot (Lake, Salakhutdinov & Tenenbaum 2015,
Science 350:1332), as N-way K-shot tasks (Santoro et al. 2016; Finn et al. 2017, arXiv 1703.03400, 5.2).

The data ship with tinymeta (tinymeta/data/omniglot/, MIT, Brenden Lake; nothing is downloaded): Lake's
two minimal background sets, 242 distinct characters of 8 alphabets with 20 drawings each, and the 20 runs
of his one-shot classification task. A task ("episode") draws N characters without replacement and K
support and Q query drawings of each. Label j goes to the j-th character drawn, and the characters are
drawn in random order, so no character keeps a label from one task to the next: the only way to name a
query is to look at the support set. Images are read with matplotlib (through Pillow), zips with zipfile.
"""
import io
import os
import re
import zipfile
from collections import namedtuple

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "omniglot")
MINIMAL_SETS = (os.path.join(DATA, "images_background_small1.zip"), os.path.join(DATA, "images_background_small2.zip"))
RUNS = os.path.join(DATA, "all_runs.zip")
SIZE = 28  # Finn et al.'s images are 28 x 28 pixels
DRAWINGS = 20  # every character was drawn by 20 people

Characters = namedtuple("Characters", "images alphabet character")
Characters.__doc__ = """images (n, 20, 28, 28) float64 in [0, 1], ink 1; alphabet (n,) its name; character (n,) its
number in the alphabet (the folder characterNN). Read-only arrays (load caches them)."""
Tasks = namedtuple("Tasks", "x_support y_support x_query y_query classes turns")
Tasks.__doc__ = """A batch of T tasks of N-way classification: x_support (T, N*K, 784) images as rows of pixels, y_support
(T, N*K, N) one-hot labels, x_query, y_query likewise with Q drawings per class; classes (T, N) the character
(an index into the images) that has label j, turns (T, N) its quarter turns counterclockwise."""
Runs = namedtuple("Runs", "training test answers")
Runs.__doc__ = """Lake et al.'s runs: training (20, 20, 28, 28) one drawing of each of a run's 20 characters, test
(20, 20, 28, 28) another drawing of each, shuffled, answers (20, 20) the training image of each test image."""

_cache = {}


def load(path=None):
    """The characters of the Omniglot sets at `path`, sorted by alphabet, then number: a Characters.

    path: a zip in Omniglot's layout (the shipped minimal sets, or the full images_background.zip and
    images_evaluation.zip), an unzipped folder of one, or a list of such; None: the two minimal sets that
    ship with tinymeta. A character found twice (Greek and Latin are in both minimal sets) is loaded once.
    Every image is shrunk from 105 x 105 to 28 x 28 (`shrink`) and inverted, ink 1 and paper 0, as Finn et
    al. do. Decoding the 4,840 shipped PNGs takes a few seconds, so the result is kept and returned again.
    """
    paths = MINIMAL_SETS if path is None else [path] if isinstance(path, (str, os.PathLike)) else list(path)
    key = tuple(os.path.abspath(p) for p in paths)
    if key not in _cache:
        drawings = {}  # (alphabet, number) -> {file name: PNG bytes}
        for p in paths:
            for parts, data in files(p):
                if len(parts) >= 3 and parts[-1].endswith(".png") and re.fullmatch(r"character\d+", parts[-2]):
                    drawings.setdefault((parts[-3], int(parts[-2][9:])), {})[parts[-1]] = data
        if not drawings:
            raise ValueError(f"no drawings <Alphabet>/characterNN/*.png found in {', '.join(map(str, paths))}")
        names = sorted(drawings)
        for name in names:
            if len(drawings[name]) != DRAWINGS:
                raise ValueError(f"{name[0]}/character{name[1]:02d} has {len(drawings[name])} drawings, not {DRAWINGS}")
        images = np.stack([shrink(np.stack([decode(drawings[n][f]) for f in sorted(drawings[n])])) for n in names])
        characters = Characters(images, np.array([n[0] for n in names]), np.array([n[1] for n in names]))
        for a in characters:
            a.flags.writeable = False  # shared by every caller of load
        _cache[key] = characters
    return _cache[key]


def files(path):
    """(path parts, bytes) of every file in a zip or under a folder."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for folder, _, names in os.walk(path):
            for name in names:
                with open(os.path.join(folder, name), "rb") as f:
                    yield os.path.join(folder, name).split(os.sep), f.read()
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                yield name.split("/"), archive.read(name)
    else:
        raise ValueError(f"{path!r} is neither a folder nor a zip file")


def decode(png):
    """A PNG's bytes as an (h, w) float64 image, ink 1 (the files have ink 0 on paper 1)."""
    import matplotlib.image  # here, so that importing tinymeta.omniglot stays quick

    image = matplotlib.image.imread(io.BytesIO(png))
    if image.ndim == 3:  # colour: the mean of red, green and blue
        image = image[..., :3].mean(axis=-1)
    return 1.0 - image.astype(np.float64)


def shrink(images, size=SIZE):
    """Images (..., h, w) averaged down to (..., size, size): each new pixel is the mean of the old pixels under it,
    an old pixel cut by its edge counted by the fraction inside (an area, or box, filter, which blurs each
    stroke over the pixels it crosses instead of keeping or missing it whole). 105 -> 28: each new pixel
    covers 3.75 x 3.75 old ones. Finn et al. ask PIL for a Lanczos filter, but PIL resizes 1-bit images
    such as these by nearest neighbour whatever filter is asked for, so theirs keep one old pixel in 3.75."""
    rows, columns = averaging(images.shape[-2], size), averaging(images.shape[-1], size)
    return rows @ images @ columns.T


def averaging(n, size):
    """(size, n): row i weights the old pixels j = 0..n-1 by how much of each lies under new pixel i."""
    edges = np.linspace(0, n, size + 1)  # new pixel i covers [edges[i], edges[i + 1]) of the old row
    j = np.arange(n)
    inside = np.minimum(edges[1:, None], j + 1) - np.maximum(edges[:-1, None], j)  # (size, n)
    return np.clip(inside, 0, None) / (n / size)


def split(characters):
    """(meta-train, validation, test): a fixed split of the characters (axis 0 of `characters`, e.g.
    load().images, in load's order). Of every ten consecutive characters the first six are for
    meta-training, the seventh for validation, the last three for testing: on the shipped sets 146, 24 and
    72 characters, every alphabet in each part."""
    part = np.arange(len(characters)) % 10
    return characters[part < 6], characters[part == 6], characters[part > 6]


def sample_tasks(rng, images, n_tasks, ways, shots, queries, rotate=False):
    """`n_tasks` tasks of `ways`-way classification with `shots` support and `queries` query drawings per
    class, from images (n_characters, drawings, h, w) such as a part of split(load().images): a Tasks.

    Each task draws its characters without replacement, in random order (label j is the j-th drawn), and
    different drawings for support and query. rotate=True turns each class by a random multiple of 90
    degrees, so that every character gives four classes (Santoro et al. 2016; Finn et al. 2017 in training).
    `rng` is a numpy.random.Generator; the same generator state gives the same bits.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, e.g. numpy.random.default_rng(0), got {rng!r}")
    n, drawn = np.shape(images)[:2]
    for name, value in (("n_tasks", n_tasks), ("ways", ways), ("shots", shots), ("queries", queries)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if ways > n:
        raise ValueError(f"ways must be at most the {n} characters given, got {ways}")
    if shots + queries > drawn:
        raise ValueError(f"shots + queries must be at most the {drawn} drawings of a character, got {shots} + {queries}")
    classes = np.argsort(rng.random((n_tasks, n)), axis=1)[:, :ways]  # (T, N): a random order of all, cut
    drawings = np.argsort(rng.random((n_tasks, ways, drawn)), axis=2)[..., :shots + queries]  # (T, N, K + Q)
    turns = rng.integers(0, 4, (n_tasks, ways)) if rotate else np.zeros((n_tasks, ways), dtype=int)
    x = images[classes[..., None], drawings]  # (T, N, K + Q, h, w)
    for k in (1, 2, 3):
        x[turns == k] = np.rot90(x[turns == k], k, axes=(-2, -1))
    x = x.reshape(n_tasks, ways, shots + queries, -1)  # (T, N, K + Q, h * w)
    labels = np.eye(ways)[:, None, :]  # (N, 1, N): class j's one-hot label

    def examples(x, count):  # class after class: (T, N * count, h * w) and their labels (T, N * count, N)
        y = np.broadcast_to(labels, (n_tasks, ways, count, ways))
        return x.reshape(n_tasks, ways * count, -1), y.reshape(n_tasks, ways * count, ways)
    return Tasks(*examples(x[:, :, :shots], shots), *examples(x[:, :, shots:], queries), classes, turns)


def lake_runs(path=None):
    """Lake et al.'s one-shot classification task, 20 runs of 20-way classification within one alphabet of
    the evaluation set (400 test images in all), from all_runs.zip (shipped; `path` for another copy or its
    unzipped folder): a Runs, its images shrunk and inverted as load's. Kept, like load's."""
    key = ("runs", os.path.abspath(RUNS if path is None else path))
    if key not in _cache:
        _cache[key] = read_runs(RUNS if path is None else path)
    return _cache[key]


def read_runs(path):
    """lake_runs, read and decoded."""
    images, answers = {}, {}
    for parts, data in files(path):
        if len(parts) >= 2 and re.fullmatch(r"run\d+", parts[-2]) and parts[-1] == "class_labels.txt":
            for line in data.decode().split("\n"):
                if line.strip():  # runNN/test/itemMM.png runNN/training/classKK.png
                    test, training = (re.search(r"(\d+)\.png", name).group(1) for name in line.split())
                    answers[(int(parts[-2][3:]), int(test))] = int(training) - 1
        elif len(parts) >= 3 and re.fullmatch(r"run\d+", parts[-3]) and re.fullmatch(r"(class|item)\d+\.png", parts[-1]):
            images[(int(parts[-3][3:]), parts[-2], int(re.search(r"\d+", parts[-1]).group()))] = data
    numbers = sorted({run for run, _ in answers})
    try:
        runs = Runs(*[np.stack([shrink(np.stack([decode(images[(r, part, i)]) for i in range(1, 21)])) for r in numbers])
                      for part in ("training", "test")], np.array([[answers[(r, i)] for i in range(1, 21)] for r in numbers]))
    except (KeyError, ValueError) as e:  # a missing image or answer, or no runs at all
        raise ValueError(f"{path} does not hold complete runs runNN/training/class01-20.png, "
                         f"test/item01-20.png and class_labels.txt ({type(e).__name__}: {e})") from None
    for a in runs:
        a.flags.writeable = False  # shared by every caller of lake_runs
    return runs


def lake_tasks(runs):
    """The runs as tasks of 20-way 1-shot classification: support the training images, labelled by their
    number (class01 is label 0), query the test images, labelled by their answers. Classes are the labels."""
    n_runs, ways = runs.answers.shape
    eye = np.eye(ways)
    return Tasks(runs.training.reshape(n_runs, ways, -1), np.broadcast_to(eye, (n_runs, ways, ways)),
                 runs.test.reshape(n_runs, ways, -1), eye[runs.answers],
                 np.broadcast_to(np.arange(ways), (n_runs, ways)), np.zeros((n_runs, ways), dtype=int))


def nearest_neighbour(x_support, y_support, x_query):
    """The baseline that learns nothing: each query gets the label of the support image nearest to it in
    pixel space (Euclidean distance). x_support (T, S, D), y_support (T, S, N), x_query (T, Q, D) -> (T, Q, N)."""
    distances = np.sum((x_query[:, :, None, :] - x_support[:, None, :, :]) ** 2, axis=-1)  # (T, Q, S)
    nearest = np.argmin(distances, axis=-1)  # (T, Q)
    return np.take_along_axis(y_support, nearest[..., None], axis=1)
