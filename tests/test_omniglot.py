"""tinymeta.omniglot: the loader on sets made here in Omniglot's layout (a folder and a zip) and on the shipped
zips, the shrinking to 28 x 28, the fixed split, the tasks (labels, drawings, turns), Lake's runs, and the
nearest-neighbour baseline."""
import os
import zipfile

import matplotlib.image
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinymeta import omniglot

SIDE = omniglot.SIZE


def code(c, d):
    """The made drawing d of character c: one ink pixel at (c, d), so that a drawing names itself."""
    image = np.zeros((SIDE, SIDE))
    image[c, d] = 1.0
    return image


def write_set(root, characters, drawings=20, skip=()):
    """characters: [(alphabet, number, index)]; writes root/<Alphabet>/characterNN/CCCC_DD.png at 56 x 56 (each
    pixel of code(index, d) as 2 x 2, black ink on white, as Omniglot's files), so that shrinking gives code back."""
    for alphabet, number, index in characters:
        folder = os.path.join(root, alphabet, f"character{number:02d}")
        os.makedirs(folder, exist_ok=True)
        for d in range(drawings):
            if (alphabet, number, d) not in skip:
                big = np.kron(code(index, d), np.ones((2, 2)))
                matplotlib.image.imsave(os.path.join(folder, f"{1000 + index:04d}_{d + 1:02d}.png"), 1 - big,
                                        cmap="gray", vmin=0, vmax=1)
    return root


def zipped(folder, path):
    """folder as a zip with the folder's own name as its top level, as images_background.zip is laid out."""
    with zipfile.ZipFile(path, "w") as z:
        for parent, _, names in os.walk(folder):
            for name in names:
                full = os.path.join(parent, name)
                z.write(full, os.path.relpath(full, os.path.dirname(folder)))
    return path


SET = [("Beta", 2, 3), ("Alpha", 1, 0), ("Alpha", 3, 2), ("Alpha", 2, 1), ("Beta", 1, 4)]  # written out of order


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("omniglot")
    folder = write_set(root / "images_background", SET)
    return folder, zipped(folder, root / "images_background.zip")


def test_a_folder_and_a_zip_in_the_official_layout_load_alike_sorted_by_alphabet_and_number(made):
    folder, archive = made
    for path in (folder, archive, str(archive)):
        chars = omniglot.load(path)
        assert chars.images.shape == (5, 20, SIDE, SIDE) and chars.images.dtype == np.float64
        assert chars.alphabet.tolist() == ["Alpha"] * 3 + ["Beta"] * 2 and chars.character.tolist() == [1, 2, 3, 1, 2]
        for i, index in enumerate([0, 1, 2, 4, 3]):  # the codes written, in sorted order
            assert all(np.array_equal(chars.images[i, d], code(index, d)) for d in range(20))  # shrunk exactly, ink 1


def test_a_character_in_two_sets_is_loaded_once(made, tmp_path):
    folder, archive = made
    other = write_set(tmp_path / "other", [("Beta", 1, 4), ("Gamma", 1, 5)])  # Beta's first is in both
    chars = omniglot.load([archive, other])
    assert list(zip(chars.alphabet, chars.character)) == [("Alpha", 1), ("Alpha", 2), ("Alpha", 3), ("Beta", 1),
                                                          ("Beta", 2), ("Gamma", 1)]
    assert np.array_equal(chars.images[5, 7], code(5, 7))


def test_loads_are_kept_and_cannot_be_changed(made):
    first = omniglot.load(made[0])
    assert omniglot.load(made[0]) is first
    with pytest.raises(ValueError, match="read-only"):
        first.images[0, 0, 0, 0] = 1.0


def test_a_character_without_twenty_drawings_and_paths_without_any_are_refused(tmp_path):
    short = write_set(tmp_path / "short", [("Alpha", 1, 0), ("Alpha", 2, 1)], skip={("Alpha", 2, 5)})
    with pytest.raises(ValueError, match="Alpha/character02 has 19 drawings, not 20"):
        omniglot.load(short)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no drawings <Alphabet>/characterNN/.*png found in .*empty"):
        omniglot.load(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("not a zip")
    with pytest.raises(ValueError, match="notes.txt' is neither a folder nor a zip file"):
        omniglot.load(tmp_path / "notes.txt")


@given(st.integers(28, 120), st.integers(28, 120), st.integers(0, 2**32 - 1))
def test_shrinking_averages_keeps_the_ink_and_a_constant(h, w, seed):
    """Each new pixel is the mean of the old ones under it: the total ink scales by the ratio of areas, a
    constant image stays that constant, and 56 -> 28 is the mean of each 2 x 2 block."""
    image = np.random.default_rng(seed).random((h, w))
    small = omniglot.shrink(image)
    assert small.shape == (SIDE, SIDE) and np.isclose(small.sum() * h * w / SIDE ** 2, image.sum(), rtol=1e-12)
    assert np.allclose(omniglot.shrink(np.full((h, w), 0.3)), 0.3, rtol=1e-12, atol=0)
    square = image[:56, :56] if min(h, w) >= 56 else np.ones((56, 56))
    assert np.allclose(omniglot.shrink(square), square.reshape(28, 2, 28, 2).mean(axis=(1, 3)), rtol=1e-12, atol=0)


def test_the_split_takes_six_one_and_three_of_every_ten():
    train, validation, test = omniglot.split(np.arange(23))
    assert train.tolist() == [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 20, 21, 22]
    assert validation.tolist() == [6, 16] and test.tolist() == [7, 8, 9, 17, 18, 19]


def made_images():
    """Five made characters of 20 drawings, each drawing naming itself (code)."""
    return np.array([[code(c, d) for d in range(20)] for c in range(5)])


def named(x):
    """(character, drawing) of every made drawing in x (..., 784), from its one ink pixel."""
    rows, columns = np.divmod(np.argmax(x, axis=-1), SIDE)
    return rows, columns


@given(st.integers(0, 2**32 - 1), st.integers(1, 5), st.integers(1, 4), st.integers(1, 4))
def test_tasks_draw_distinct_characters_and_distinct_drawings_with_labels_by_class(seed, ways, shots, queries):
    images = made_images()
    tasks = omniglot.sample_tasks(np.random.default_rng(seed), images, 6, ways, shots, queries)
    assert tasks.x_support.shape == (6, ways * shots, SIDE ** 2) and tasks.x_query.shape == (6, ways * queries, SIDE ** 2)
    assert tasks.y_support.shape == (6, ways * shots, ways) and tasks.y_query.shape == (6, ways * queries, ways)
    assert np.array_equal(np.argmax(tasks.y_support, -1), np.tile(np.repeat(np.arange(ways), shots), (6, 1)))
    assert np.array_equal(np.argmax(tasks.y_query, -1), np.tile(np.repeat(np.arange(ways), queries), (6, 1)))
    assert np.all(tasks.turns == 0)
    for t in range(6):
        assert len(set(tasks.classes[t])) == ways
        for x, y in ((tasks.x_support[t], tasks.y_support[t]), (tasks.x_query[t], tasks.y_query[t])):
            character, _ = named(x)
            assert np.array_equal(character, tasks.classes[t][np.argmax(y, -1)])  # label j is classes[t, j]
        for j in range(ways):
            drawn = np.concatenate([named(tasks.x_support[t, j * shots:(j + 1) * shots])[1],
                                    named(tasks.x_query[t, j * queries:(j + 1) * queries])[1]])
            assert len(set(drawn)) == shots + queries  # no drawing is both support and query, or used twice


def test_no_character_keeps_a_label():
    """Five characters, 5-way tasks: every task holds all five, and each gets every label about equally often."""
    tasks = omniglot.sample_tasks(np.random.default_rng(0), made_images(), 500, 5, 1, 1)
    counts = np.array([[np.sum(tasks.classes[:, j] == c) for j in range(5)] for c in range(5)])  # character x label
    assert counts.sum() == 2500 and counts.min() > 70 and counts.max() < 130  # 100 each expected


@given(st.integers(0, 2**32 - 1))
def test_rotate_turns_every_drawing_of_a_class_alike(seed):
    images = made_images()
    tasks = omniglot.sample_tasks(np.random.default_rng(seed), images, 8, 3, 2, 2, rotate=True)
    assert set(np.unique(tasks.turns)) <= {0, 1, 2, 3}
    for t in range(8):
        for i, label in enumerate(np.argmax(tasks.y_support[t], -1)):
            c, k = tasks.classes[t, label], tasks.turns[t, label]
            image = tasks.x_support[t, i].reshape(SIDE, SIDE)
            assert any(np.array_equal(image, np.rot90(images[c, d], k)) for d in range(20))
    many = omniglot.sample_tasks(np.random.default_rng(seed), images, 200, 3, 1, 1, rotate=True)
    assert set(np.unique(many.turns)) == {0, 1, 2, 3}
    assert np.mean(many.turns[:, 0] == many.turns[:, 1]) < 0.5  # each class its own turn (1/4 alike by chance)


def test_the_same_generator_state_gives_the_same_tasks_and_bad_requests_say_why():
    images = made_images()
    a, b = (omniglot.sample_tasks(np.random.default_rng(3), images, 4, 3, 2, 1, rotate=True) for _ in range(2))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    for kwargs, message in [(dict(ways=6), "ways must be at most the 5 characters given, got 6"),
                            (dict(shots=15, queries=6), "at most the 20 drawings of a character, got 15 \\+ 6"),
                            (dict(queries=0), "queries must be a positive integer, got 0")]:
        with pytest.raises(ValueError, match=message):
            omniglot.sample_tasks(np.random.default_rng(0), images, 2, **dict(dict(ways=2, shots=1, queries=1), **kwargs))
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        omniglot.sample_tasks(0, images, 2, 2, 1, 1)


def write_runs(root, runs=2, missing=None):
    """all_runs in Lake's layout: run r's class c drawn as code(c, r), its test item i the class (i + r) % 20."""
    for r in range(1, runs + 1):
        os.makedirs(root / f"run{r:02d}" / "training")
        os.makedirs(root / f"run{r:02d}" / "test")
        lines = []
        for i in range(20):
            c = (i + r) % 20
            for part, name, index in (("training", f"class{i + 1:02d}", i), ("test", f"item{i + 1:02d}", c)):
                if (r, part, i) != missing:
                    matplotlib.image.imsave(root / f"run{r:02d}" / part / f"{name}.png",
                                            1 - np.kron(code(index, r), np.ones((2, 2))), cmap="gray", vmin=0, vmax=1)
            lines.append(f"run{r:02d}/test/item{i + 1:02d}.png run{r:02d}/training/class{c + 1:02d}.png")
        (root / f"run{r:02d}" / "class_labels.txt").write_text("\r\n".join(lines) + "\r\n")
    return root


def test_lake_runs_pair_each_test_image_with_its_training_image(tmp_path):
    runs = omniglot.lake_runs(zipped(write_runs(tmp_path / "all_runs"), tmp_path / "all_runs.zip"))
    assert runs.training.shape == runs.test.shape == (2, 20, SIDE, SIDE)
    assert runs.answers.tolist() == [[(i + r) % 20 for i in range(20)] for r in (1, 2)]
    for r in range(2):
        assert all(np.array_equal(runs.test[r, i], runs.training[r, runs.answers[r, i]]) for i in range(20))
    tasks = omniglot.lake_tasks(runs)
    assert np.array_equal(np.argmax(tasks.y_query, -1), runs.answers) and np.array_equal(np.argmax(tasks.y_support, -1)[0], np.arange(20))
    guessed = omniglot.nearest_neighbour(tasks.x_support, tasks.y_support, tasks.x_query)  # the same drawings: all right
    assert np.array_equal(guessed, tasks.y_query)
    with pytest.raises(ValueError, match="does not hold complete runs"):
        omniglot.lake_runs(write_runs(tmp_path / "broken", runs=1, missing=(1, "test", 7)))


def test_nearest_neighbour_takes_the_label_of_the_closest_support_image():
    x_support = np.array([[[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]])  # (1 task, 3 support, 2 pixels)
    y_support = np.eye(3)[None, [2, 0, 1]]
    x_query = np.array([[[0.9, 0.8], [4.0, 6.0], [-1.0, 0.2]]])
    assert np.argmax(omniglot.nearest_neighbour(x_support, y_support, x_query), -1).tolist() == [[0, 1, 2]]


# ----- the shipped data -----

def test_the_shipped_minimal_sets_hold_136_and_156_characters_242_distinct_of_20_drawings():
    small1, small2 = (omniglot.load(path) for path in omniglot.MINIMAL_SETS)
    both = omniglot.load()
    assert small1.images.shape == (136, 20, SIDE, SIDE) and small2.images.shape == (156, 20, SIDE, SIDE)
    assert both.images.shape == (242, 20, SIDE, SIDE) and omniglot.load(omniglot.MINIMAL_SETS) is both
    names = lambda chars: set(zip(chars.alphabet, chars.character))
    assert names(both) == names(small1) | names(small2) and len(names(small1) & names(small2)) == 50  # Greek, Latin
    assert sorted(set(both.alphabet)) == ["Balinese", "Early_Aramaic", "Greek", "Japanese_(katakana)", "Korean",
                                          "Latin", "Sanskrit", "Tagalog"]
    assert both.images.min() == 0 and both.images.max() == 1 and 0.02 < both.images.mean() < 0.2  # ink on paper


def test_the_split_of_the_shipped_characters_has_every_alphabet_in_each_part():
    both = omniglot.load()
    parts = [omniglot.split(both.alphabet)[i] for i in range(3)]
    assert [len(p) for p in parts] == [146, 24, 72]
    assert all(set(p) == set(both.alphabet) for p in parts)
    numbers = omniglot.split(np.arange(242))
    assert sorted(np.concatenate(numbers).tolist()) == list(range(242))


def test_the_shipped_runs_and_the_nearest_neighbour_error_on_them():
    """20 runs of 20 training and 20 test images, each run's answers a permutation of its classes; nearest
    neighbour in pixel space is wrong on most of the 400 test images (chance would be 95%: the answers line up)."""
    runs = omniglot.lake_runs()
    assert runs.training.shape == runs.test.shape == (20, 20, SIDE, SIDE)
    assert np.array_equal(np.sort(runs.answers, axis=1), np.tile(np.arange(20), (20, 1)))
    tasks = omniglot.lake_tasks(runs)
    wrong = np.sum(np.argmax(omniglot.nearest_neighbour(tasks.x_support, tasks.y_support, tasks.x_query), -1) != runs.answers)
    assert 0.70 < wrong / 400 < 0.85
