"""The algorithms as the training loop sees them: one table, ALGORITHMS, of three functions each.

    init(params, config)                          -> meta, a dict {"params": [...], ...}
    loss_and_grad(meta, tasks, config, iteration) -> (meta-loss, gradient shaped like meta)
    adapt(meta, x, y, config, steps)              -> fast weights, arrays of shape (T,) + p.shape

`iteration` counts from 1, for schedules. The algorithm modules take different arguments (MAML an
inner rate, LSLR its own learned ones), so most entries are made by three small adapters that read
the named settings from the run's config: `initial`, `differentiated` and `adapter`. Adding an
algorithm is one entry, e.g. ALGORITHMS["metasgd"] = Algorithm(initial(metasgd, "inner_lr"), ...);
each of its `options` becomes config[name] and a --flag of `train`. The model's loss comes from the run's
task family, families.loss(config): mlp.mse for sinusoids, mlp.cross_entropy_reference for Omniglot.
"""
from collections import namedtuple

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad

from tinymeta import anil, cavia, enhanced, imaml, lslr, maml, metacurvature, metasgd, mlp, reptile
from tinymeta.lab import families, fastmaml

Algorithm = namedtuple("Algorithm", "init loss_and_grad adapt options", defaults=(None,))
Algorithm.__doc__ = """init, loss_and_grad, adapt as in the module docstring; options: {name: default}
of extra configuration this algorithm reads (each becomes a --flag of `train`)."""


def first_order(config, iteration):
    """MAML++ derivative-order annealing: first-order for the first --first-order-iterations, then exact."""
    return iteration <= config.get("first_order_iterations", 0)


def params_only(params, config):
    """The meta-parameters of algorithms that learn only an initialisation."""
    return {"params": params}


def initial(module, *settings):
    """init: module.init(params, *config[settings]), for algorithms that learn more than an initialisation."""
    def init(params, config):
        return module.init(params, *[config[s] for s in settings])
    return init


def differentiated(module, *settings, on_params=False, always_first_order=False):
    """loss_and_grad: autograd through module.meta_loss(meta, tasks, loss, *config[settings], first_order).

    on_params: the module's meta_loss takes the parameter list itself (MAML, ANIL), not the meta dict.
    """
    def loss_and_grad(meta, tasks, config, iteration):
        args = [families.loss(config)] + [config[s] for s in settings] + [always_first_order or first_order(config, iteration)]
        if on_params:
            loss, g = value_and_grad(meta_loss(module, config))(meta["params"], tasks, *args)
            return loss, {"params": g}
        return value_and_grad(module.meta_loss)(meta, tasks, *args)
    return loss_and_grad


def adapter(module, *settings, on_params=False):
    """adapt: module.adapt(meta, x, y, loss, *config[settings], steps)."""
    def adapt(meta, x, y, config, steps):
        return module.adapt(meta["params"] if on_params else meta, x, y, families.loss(config),
                            *[config[s] for s in settings], steps)
    return adapt


ON_IMAGES = {maml: fastmaml.meta_loss, anil: fastmaml.anil_meta_loss}


def meta_loss(module, config):
    """module.meta_loss, or for Omniglot its fast path in fastmaml.py (MAML, ANIL): the same numbers to rounding,
    computed without a copy of the network per task (its first layer is 784 x 256 in Finn et al.'s MLP)."""
    return ON_IMAGES[module] if module in ON_IMAGES and families.problem(config) == "omniglot" else module.meta_loss


def enhanced_loss_and_grad(meta, tasks, config, iteration):
    """With --msl-iterations N: the MAML++ multi-step loss, its weights annealed over the first N iterations."""
    weights = None
    if iteration <= config["msl_iterations"]:
        weights = enhanced.msl_weights(config["inner_steps"], iteration - 1, config["msl_iterations"])
    return value_and_grad(enhanced.meta_loss)(meta, tasks, families.loss(config), weights, first_order(config, iteration))


def reptile_loss_and_grad(meta, tasks, config, iteration):
    """Reptile's direction theta - mean_t theta~_t, handed to Adam as a gradient (Nichol et al. 2018).

    The loss reported is the query loss at the adapted weights, the quantity MAML's curve shows.
    The direction is reptile.meta_gradient's line, written out so the adapted weights serve both
    (tests check it equals reptile.meta_gradient exactly).
    """
    params, model_loss = meta["params"], families.loss(config)
    if families.problem(config) == "omniglot":  # the same numbers, without copies (fastmaml.py)
        loss, g = fastmaml.reptile(params, tasks, model_loss, config["inner_lr"], config["inner_steps"])
        return loss, {"params": g}
    fast = reptile.adapt(params, tasks.x_support, tasks.y_support, model_loss, config["inner_lr"], config["inner_steps"])
    loss = np.mean(model_loss(fast, tasks.x_query, tasks.y_query))
    return loss, {"params": [p - np.mean(w, axis=0) for p, w in zip(params, fast)]}


def pretrain_init(params, config):
    """The baseline's meta-parameters: the network; for classification also "head", a last layer over every
    training class, while the network's own N-way last layer, the one fine-tuning adapts, starts at 0 (every
    label equally likely until the support set says otherwise)."""
    if families.problem(config) != "omniglot":
        return {"params": params}
    width, n = np.shape(params[-2])[0], families.classes(config)
    return {"params": params[:-2] + [np.zeros_like(params[-2]), np.zeros_like(params[-1])],
            "head": [np.zeros((width, n)), np.zeros(n)]}


def pretrain_loss_and_grad(meta, tasks, config, iteration):
    """The baseline: one network trained on all tasks jointly, on every example of the meta-batch (support
    and query); at test time it is fine-tuned by SGD like MAML (Finn et al. 2017). Regression: on each
    point's y. Classification: each image into its class among all training classes (a character, turned
    or not), by the network's hidden layers and the head over all classes."""
    x = np.concatenate([tasks.x_support, tasks.x_query], axis=1)  # (T, K + Q, n_in)
    y = np.concatenate([tasks.y_support, tasks.y_query], axis=1)
    if "head" not in meta:
        loss, g = value_and_grad(lambda p: anp.mean(mlp.mse(p, x, y)))(meta["params"])
        return loss, {"params": g}
    ids = tasks.classes * (families.TURNS if config["rotate"] else 1) + tasks.turns  # (T, N): label j's class
    y = np.eye(len(meta["head"][1]))[np.take_along_axis(ids, np.argmax(y, axis=-1), axis=1)]  # (T, K + Q, classes)
    whole = lambda m: anp.mean(mlp.cross_entropy(list(m["params"][:-2]) + list(m["head"]), x, y))
    return value_and_grad(whole)(meta)  # the N-way last layer is not in it: its gradient is 0


def imaml_init(params, config):
    """iMAML learns an initialisation; its CG needs at least one step."""
    if int(config["cg_steps"]) != config["cg_steps"] or config["cg_steps"] < 1:
        raise ValueError(f"cg_steps must be an integer >= 1, got {config['cg_steps']!r}")
    return params_only(params, config)


def imaml_loss_and_grad(meta, tasks, config, iteration):
    """iMAML's query loss and implicit meta-gradient (no differentiation through the inner loop)."""
    loss, g = imaml.query_loss_and_meta_gradient(meta["params"], tasks, families.loss(config), config["inner_lr"], config["inner_steps"],
                                                 config["reg"], config["cg_steps"], config["newton_cg"])
    return loss, {"params": g}


def imaml_adapt(meta, x, y, config, steps):
    """iMAML's test-time adaptation: `steps` steps (gradient, or Newton with newton_cg CG steps each) on the
    support loss plus the pull (reg/2)||phi - theta||^2."""
    return imaml.adapt(meta["params"], x, y, families.loss(config), config["inner_lr"], steps, config["reg"], config["newton_cg"])


def cavia_adapt(meta, x, y, config, steps):
    """CAVIA's adapted contexts folded into the first layer, so that the fast weights are those of a network
    on x alone: [x, phi] W1 + b1 = x W1[:n_in] + (b1 + phi W1[n_in:]). Arrays of shape (T,) + p.shape."""
    params, n = meta["params"], config["n_context"]
    contexts = cavia.adapt(params, x, y, families.loss(config), n, config["inner_lr"], steps)  # (T, n_context)
    W1, n_in = params[0], params[0].shape[0] - n
    fast = [np.repeat(p[None], len(x), axis=0) for p in params]  # one copy per task
    fast[0], fast[1] = fast[0][:, :n_in], params[1] + contexts @ W1[n_in:]  # (T, n_in, h), (T, h)
    return fast


sgd = adapter(maml, "inner_lr", on_params=True)  # plain SGD with the run's inner rate: MAML's test-time adaptation
ANNEAL = {"first_order_iterations": 0}  # every second-order algorithm takes MAML++'s derivative-order annealing
ALGORITHMS = {
    "maml": Algorithm(params_only, differentiated(maml, "inner_lr", "inner_steps", on_params=True), sgd, ANNEAL),
    "fomaml": Algorithm(params_only, differentiated(maml, "inner_lr", "inner_steps", on_params=True,
                                                    always_first_order=True), sgd),
    "reptile": Algorithm(params_only, reptile_loss_and_grad, sgd),
    "pretrain": Algorithm(pretrain_init, pretrain_loss_and_grad, sgd),
    "metasgd": Algorithm(initial(metasgd, "inner_lr"), differentiated(metasgd, "inner_steps"), adapter(metasgd), ANNEAL),
    "lslr": Algorithm(initial(lslr, "inner_steps", "inner_lr"), differentiated(lslr), adapter(lslr), ANNEAL),
    "metacurvature": Algorithm(initial(metacurvature), differentiated(metacurvature, "inner_lr", "inner_steps"),
                               adapter(metacurvature, "inner_lr"), ANNEAL),
    "enhanced": Algorithm(initial(enhanced, "inner_steps", "inner_lr"), enhanced_loss_and_grad, adapter(enhanced),
                          dict(ANNEAL, msl_iterations=0)),
    "anil": Algorithm(params_only, differentiated(anil, "inner_lr", "inner_steps", on_params=True),
                      adapter(anil, "inner_lr", on_params=True), ANNEAL),
    "imaml": Algorithm(imaml_init, imaml_loss_and_grad, imaml_adapt, dict(reg=10.0, cg_steps=5, newton_cg=0)),
    "cavia": Algorithm(params_only, differentiated(cavia, "n_context", "inner_lr", "inner_steps", on_params=True),
                       cavia_adapt, dict(ANNEAL, n_context=5)),
}
