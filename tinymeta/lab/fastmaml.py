"""MAML and Reptile on an MLP without a copy of the network per task: the training path for Omniglot.

maml.py gives every task its own copy of the network. For Finn et al.'s Omniglot MLP the first layer, 784 x 256,
is most of it: 32 tasks hold 51 MB of copies, and every inner step reads and writes them. But an inner step
changes a layer by a matrix of low rank. Backprop gives the gradient of a weight matrix W as

    dL/dW = A^T E,    A (S, d_in) the layer's inputs on the S support examples,
                      E (S, d_out) the errors dL/dz at its outputs z = A W + b,

so after any number of steps task t's layer is W_t = W + U_t^T V_t: U_t stacks the inputs A of every step,
V_t the matching -inner_lr E (rank at most steps x S, 5 for one step of 5-way 1-shot). `adapt` keeps these
factors instead of W_t and applies the layer as

    z = A W + (A U_t^T) V_t + b_t,

one product with the shared W for all tasks at once, then two thin ones per task. It runs backprop itself to get
each step's E (the errors of the layer below: E W_t^T times the ReLU's slope), so that autograd, differentiating
the whole thing for the meta-gradient, sees the factors. maml.meta_loss and reptile.meta_gradient give the same
numbers to rounding (tests/test_fastmaml.py); registry.py trains Omniglot runs through these. ANIL, which adapts
only the last layer, needs no factors: `anil_meta_loss` computes the body's features once.
"""
from collections import namedtuple

import autograd.numpy as np
from autograd import grad
from autograd.tracer import getval

from tinymeta import maml

Tasks = namedtuple("Tasks", "x_support y_support x_query y_query")


def layer(a, W, b, factors):
    """Each task's layer on its own inputs a (T, m, d_in): a W + (a U^T) V + b, (T, m, d_out).
    W (d_in, d_out) shared; b (T, d_out) per task; factors None or (U (T, r, d_in), V (T, r, d_out))."""
    T, m, d = a.shape
    z = np.reshape(np.reshape(a, (T * m, d)) @ W, (T, m, -1)) + b[:, None, :]  # one product for every task
    if factors is None:
        return z
    U, V = factors
    return z + (a @ np.swapaxes(U, 1, 2)) @ V


def forward(weights, biases, factors, x):
    """Every layer's inputs and outputs on images x (T, m, d): ([A_1, ..., A_L], [z_1, ..., z_L]), z_L the network's.
    ReLU between layers, none after the last (mlp.predict)."""
    inputs, outputs, a = [], [], x
    for W, b, f in zip(weights, biases, factors):
        inputs.append(a)
        outputs.append(layer(a, W, b, f))
        a = np.maximum(outputs[-1], 0.0)
    return inputs, outputs


def relu_slope(z):
    """d max(z, 0) / dz: 1 above 0, 0 below, and 1/2 at 0 exactly, as autograd differentiates np.maximum (a unit
    whose inputs are all 0 and whose bias is 0 sits there)."""
    return (z > 0) + 0.5 * (z == 0)


def on_outputs(loss, z, y):
    """The model's loss of outputs z (T, m, o): the loss of a network that is the identity (o x o, bias 0)."""
    o = z.shape[-1]
    return loss([np.eye(o), np.zeros(o)], z, y)


def adapt(params, tasks, loss, inner_lr, inner_steps, first_order=False):
    """Every task's adapted network as (weights, biases, factors): W_t = W + U_t^T V_t per layer, b_t (T, d_out).
    params: [W1, b1, W2, ...] (one network)."""
    weights, T = params[0::2], tasks.x_support.shape[0]
    biases = [np.repeat(b[None], T, axis=0) for b in params[1::2]]
    factors = [None] * len(weights)
    for _ in range(inner_steps):
        inputs, outputs = forward(weights, biases, factors, tasks.x_support)
        E = grad(lambda z: np.sum(on_outputs(loss, z, tasks.y_support)))(outputs[-1])  # dL/dz at the output, per task
        errors = [E]
        for i in range(len(weights) - 1, 0, -1):  # backprop: the errors at each layer below
            E = back(E, weights[i], factors[i]) * relu_slope(outputs[i - 1])
            errors.insert(0, E)
        if first_order:  # first-order MAML: the inner gradient is a constant
            inputs, errors = [getval(a) for a in inputs], [getval(e) for e in errors]
        biases = [b - inner_lr * np.sum(e, axis=1) for b, e in zip(biases, errors)]
        factors = [grow(f, a, -inner_lr * e) for f, a, e in zip(factors, inputs, errors)]
    return weights, biases, factors


def back(E, W, factors):
    """E W_t^T = E W^T + (E V^T) U: the errors (T, m, d_out) carried back through task t's layer to its inputs."""
    if factors is None:
        return E @ W.T
    U, V = factors
    return E @ W.T + (E @ np.swapaxes(V, 1, 2)) @ U


def grow(factors, U, V):
    """W_t + U^T V: the factors with this step's appended (T, r, .) -> (T, r + S, .)."""
    if factors is None:
        return U, V
    return np.concatenate([factors[0], U], axis=1), np.concatenate([factors[1], V], axis=1)


def meta_loss(params, tasks, loss, inner_lr, inner_steps, first_order=False):
    """maml.meta_loss, without copies of the network: a scalar."""
    adapted = adapt(params, tasks, loss, inner_lr, inner_steps, first_order)
    return np.mean(on_outputs(loss, forward(*adapted, tasks.x_query)[1][-1], tasks.y_query))


def reptile(params, tasks, loss, inner_lr, inner_steps):
    """(query loss, reptile.meta_gradient): theta - mean_t theta~_t, adapting on the support sets. A weight
    matrix's is -mean_t U_t^T V_t, one matrix product over all tasks' factors."""
    weights, biases, factors = adapt(params, tasks, loss, inner_lr, inner_steps)
    query_loss = np.mean(on_outputs(loss, forward(weights, biases, factors, tasks.x_query)[1][-1], tasks.y_query))
    T, direction = len(tasks.x_support), []
    for b, b_t, (U, V) in zip(params[1::2], biases, factors):
        direction += [-np.reshape(U, (-1, U.shape[-1])).T @ np.reshape(V, (-1, V.shape[-1])) / T,
                      b - np.mean(b_t, axis=0)]
    return query_loss, direction


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
