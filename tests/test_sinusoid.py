import numpy as np
import pytest

from tinymeta import sinusoid


def test_shapes_and_ranges():
    t = sinusoid.sample_tasks(np.random.default_rng(0), 2000, 5, 7)
    assert t.x_support.shape == t.y_support.shape == (2000, 5, 1)
    assert t.x_query.shape == t.y_query.shape == (2000, 7, 1)
    assert t.amplitude.shape == t.phase.shape == (2000,)
    assert 0.1 <= t.amplitude.min() and t.amplitude.max() <= 5.0
    assert 0.0 <= t.phase.min() and t.phase.max() <= np.pi
    for x in (t.x_support, t.x_query):
        assert -5 <= x.min() and x.max() <= 5 and x.min() < -4.9 and x.max() > 4.9
    # uniform: means near the middle of each range (standard errors ~0.03 and ~0.02)
    assert abs(t.amplitude.mean() - 2.55) < 0.15 and abs(t.phase.mean() - np.pi / 2) < 0.1
    y = t.amplitude[:, None, None] * np.sin(t.x_query - t.phase[:, None, None])
    assert np.array_equal(t.y_query, y)


def test_support_and_query_are_drawn_independently():
    t = sinusoid.sample_tasks(np.random.default_rng(1), 3000, 1, 1)
    xs, xq = t.x_support.ravel(), t.x_query.ravel()
    assert not np.any(xs == xq)
    assert abs(np.corrcoef(xs, xq)[0, 1]) < 0.06  # 3000 pairs: sd of r is about 0.018


def test_same_seed_same_bits_other_seed_other_bits():
    a, b, c = (sinusoid.sample_tasks(np.random.default_rng(s), 4, 3, 3) for s in (5, 5, 6))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a.x_support, c.x_support)


@pytest.mark.parametrize("args", [(0, 5, 5), (3, -1, 5), (3, 5, 2.5)])
def test_bad_counts(args):
    with pytest.raises(ValueError, match="must be a positive integer"):
        sinusoid.sample_tasks(np.random.default_rng(0), *args)


def test_rng_must_be_a_generator():
    with pytest.raises(ValueError, match=r"rng must be a numpy.random.Generator, e.g. numpy.random.default_rng\(0\), got 0"):
        sinusoid.sample_tasks(0, 2, 3, 3)
