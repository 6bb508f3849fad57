"""Hypothesis strategies shared by the tests: random architectures, task batches and seeds."""
import numpy as np
from hypothesis import strategies as st

from tinymeta import mlp
from tinymeta.sinusoid import Tasks


@st.composite
def problems(draw, max_tasks=4, max_shots=5):
    """(params, tasks, rng): a random small MLP and a random batch of regression tasks."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_in, n_out = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    hidden = draw(st.lists(st.integers(1, 8), min_size=1, max_size=2))
    n_tasks, k_support, k_query = (draw(st.integers(1, max_tasks)), draw(st.integers(1, max_shots)),
                                   draw(st.integers(1, max_shots)))
    rng = np.random.default_rng(seed)
    params = mlp.init(rng, (n_in, *hidden, n_out))
    params = [p + 0.1 * rng.standard_normal(p.shape) for p in params]  # nonzero biases too
    tasks = Tasks(rng.uniform(-2, 2, (n_tasks, k_support, n_in)), rng.normal(size=(n_tasks, k_support, n_out)),
                  rng.uniform(-2, 2, (n_tasks, k_query, n_in)), rng.normal(size=(n_tasks, k_query, n_out)),
                  None, None)
    return params, tasks, rng


inner_steps = st.integers(1, 3)
inner_lrs = st.floats(0.001, 0.1)


@st.composite
def classification_problems(draw, max_tasks=3, max_shots=3):
    """(params, tasks, rng): a random small MLP with `ways` outputs and a random batch of classification
    tasks, labels one-hot (the loss is mlp.cross_entropy)."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_in, ways = draw(st.integers(1, 4)), draw(st.integers(2, 3))
    hidden = draw(st.lists(st.integers(1, 6), min_size=1, max_size=2))
    n_tasks, k_support, k_query = (draw(st.integers(1, max_tasks)), draw(st.integers(1, max_shots)),
                                   draw(st.integers(1, max_shots)))
    rng = np.random.default_rng(seed)
    params = mlp.init(rng, (n_in, *hidden, ways))
    params = [p + 0.1 * rng.standard_normal(p.shape) for p in params]  # nonzero biases too
    labels = lambda k: np.eye(ways)[rng.integers(0, ways, (n_tasks, k))]  # (T, k, ways) one-hot
    tasks = Tasks(rng.uniform(-2, 2, (n_tasks, k_support, n_in)), labels(k_support),
                  rng.uniform(-2, 2, (n_tasks, k_query, n_in)), labels(k_query), None, None)
    return params, tasks, rng
