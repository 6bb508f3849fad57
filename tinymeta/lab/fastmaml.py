"""MAML and Reptile on an MLP without a copy of its first layer per task: the training path for Omniglot.

maml.py gives every task its own copy of the network. For Finn et al.'s Omniglot MLP the first layer, 784 x 256,
is most of it: 32 tasks hold 51 MB of copies, and every inner step reads and writes them. But an inner step
changes task t's first layer by a matrix in the span of its support images,

    W1_t <- W1_t - inner_lr x_s^T delta_s,    x_s (S, d) the support images, delta_s (S, h) their errors at
                                              the first layer's outputs (backprop),

so after any number of steps W1_t = W1 + X^T C_t, where X (n, d) holds the task's n support and query images and
C_t (n, h) starts at 0. The network only ever sees those n images, and their first-layer outputs are

    P_t = X W1_t = X W1 + G C_t,    G = X X^T (n x n, a constant of the task).

P_t is the first layer of a network whose inputs are rows of the n x n identity (image i is row i), so the
model's own loss differentiates it: dL/dP_t holds each support image's delta_s in its row and 0 in the query
rows, and a step is C_t <- C_t - inner_lr dL/dP_t. Per task that is (n, h) numbers, 10 x 256 for 5-way 1-shot,
instead of (d, h). maml.meta_loss and reptile.meta_gradient give the same numbers to rounding
(tests/test_fastmaml.py); registry.py trains Omniglot runs through these. ANIL, which adapts only the last
layer, needs no such change of coordinates: `anil_meta_loss` computes the body's features once.
"""
from collections import namedtuple

import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval

from tinymeta import maml

Tasks = namedtuple("Tasks", "x_support y_support x_query y_query")


def adapt(params, tasks, loss, inner_lr, inner_steps, first_order=False):
    """Every task's adapted network, on its own images: (P, C, rest, rows).

    P (T, n, h): the first layer's outputs (before bias) on the task's n = S + Q support then query images;
    C (T, n, h): W1_t = W1 + X_t^T C_t; rest: the other parameters, one copy per task, (T,) + p.shape;
    rows (n, n): the identity, whose row i stands for image i. params: [W1, b1, W2, ...] (one network).
    """
    X = np.concatenate([tasks.x_support, tasks.x_query], axis=1)  # (T, n, d)
    (T, n, d), S = X.shape, tasks.x_support.shape[1]
    G = X @ np.swapaxes(X, -1, -2)  # (T, n, n)
    XW = np.reshape(np.reshape(X, (T * n, d)) @ params[0], (T, n, -1))  # (T, n, h): X W1, one matrix product
    C, rest, rows = np.zeros(XW.shape), [np.repeat(p[None], T, axis=0) for p in params[1:]], np.eye(n)
    support = np.broadcast_to(rows[:S], (T, S, n))  # the support images, as rows of the identity
    for _ in range(inner_steps):
        grads = grad(lambda w: np.sum(loss(w, support, tasks.y_support)))([XW + G @ C] + rest)  # per task
        if first_order:
            grads = [getval(g) for g in grads]  # first-order MAML: the inner gradient is a constant
        C = C - inner_lr * grads[0]  # dL/dP: each support image's error in its row
        rest = [w - inner_lr * g for w, g in zip(rest, grads[1:])]
    return XW + G @ C, C, rest, rows


def meta_loss(params, tasks, loss, inner_lr, inner_steps, first_order=False):
    """maml.meta_loss, computed on the tasks' own images: a scalar."""
    P, _, rest, rows = adapt(params, tasks, loss, inner_lr, inner_steps, first_order)
    T, S = P.shape[0], tasks.x_support.shape[1]
    query = np.broadcast_to(rows[S:], (T, len(rows) - S, len(rows)))
    return np.mean(loss([P] + rest, query, tasks.y_query))


def reptile(params, tasks, loss, inner_lr, inner_steps):
    """(query loss, reptile.meta_gradient): theta - mean_t theta~_t, adapting on the support sets.
    The first layer's is -mean_t X_t^T C_t, one matrix product over all tasks' images."""
    P, C, rest, rows = adapt(params, tasks, loss, inner_lr, inner_steps)
    X = np.concatenate([tasks.x_support, tasks.x_query], axis=1)
    (T, n, d), S = X.shape, tasks.x_support.shape[1]
    query = np.broadcast_to(rows[S:], (T, n - S, n))
    W1_step = -np.reshape(X, (T * n, d)).T @ np.reshape(C, (T * n, -1)) / T
    return np.mean(loss([P] + rest, query, tasks.y_query)), [W1_step] + [p - np.mean(w, axis=0) for p, w in zip(params[1:], rest)]


def anil_meta_loss(params, tasks, loss, inner_lr, inner_steps, first_order=False):
    """anil.meta_loss: ANIL adapts only the head, so the body's features of every image are computed once, by
    the one body (no copy per task), and the head is MAML's network: a scalar."""
    body, head = params[:-2], params[-2:]
    support, query = features(body, tasks.x_support), features(body, tasks.x_query)
    return maml.meta_loss(head, Tasks(support, tasks.y_support, query, tasks.y_query), loss, inner_lr, inner_steps,
                          first_order)


def features(body, x):
    """The body's last hidden layer (ReLU) on images x (T, K, d) -> (T, K, h), all T * K images in one pass."""
    T, K, d = x.shape
    h = np.reshape(x, (T * K, d))
    for W, b in zip(body[0::2], body[1::2]):
        h = np.maximum(h @ W + b, 0.0)
    return np.reshape(h, (T, K, -1))
