"""For each algorithm, what `python -m tinymeta check` checks and how: ALGORITHMS has one entry per algorithm,
saying how to call a module's functions on a case, which reference gives the expected values (references.py)
and which properties apply (properties.py). A new algorithm is one entry: the functions FILE must define, its
inner step for one task (or its whole inner loop, if a step needs more than the weights and their gradient),
its own settings for a case, its properties, and the calls its module must refuse (for --bad-input).
"""
from collections import namedtuple

import autograd.numpy as np

from tinymeta import gradcheck, mlp
from tinymeta.lab.cases import cavia_case, curvature, identity_curvature, imaml_case, rates, support
from tinymeta.lab.properties import (ADAPT, ALL_HEAD, AT_INIT, BAD_INPUT, CG_ITERATES, CG_SOLVES, CONTEXTS,
                                     CONTEXTS_CONSTANT, CONTEXT_LOSS, FIRST_ORDER, GRADIENT, HALVING, IMPLICIT,
                                     META_LOSS, MSL_WEIGHTS, MULTI_STEP, MULTI_STEP_GRADIENT, NEVER_RISES, NEWTON,
                                     NEWTON_BAD_INPUT, NEWTON_IMPLICIT, NEWTON_NEVER_RISES, NO_CONTEXT, OWN_RATES,
                                     PAST_TRAINED, QUERY_LOSS, REPTILE, WITH_CONTEXT, ZERO_CONTEXT_STEPS, ZERO_STEPS)
from tinymeta.lab.references import curved, halving, head_only, per_array_and_step, per_weight, sgd


def maml_bad_inputs(m, case):
    p, t = case.params, case.tasks
    return [("inner_lr=-0.1", lambda: m.meta_loss(p, t, mlp.mse, -0.1, 1)),
            ("inner_lr=0", lambda: m.meta_loss(p, t, mlp.mse, 0.0, 1)),
            ("inner_steps=-1", lambda: m.meta_loss(p, t, mlp.mse, 0.01, -1)),
            ("inner_steps=1.5", lambda: m.meta_loss(p, t, mlp.mse, 0.01, 1.5))]


def reptile_bad_inputs(m, case):
    p, t = case.params, case.tasks
    return [("inner_lr=-1", lambda: m.meta_gradient(p, t, mlp.mse, -1.0, 1)),
            ("inner_steps=0", lambda: m.meta_gradient(p, t, mlp.mse, 0.01, 0)),
            ("inner_steps=1.5", lambda: m.meta_gradient(p, t, mlp.mse, 0.01, 1.5))]


def metasgd_bad_inputs(m, case):
    p, t = case.params, case.tasks
    lr = [np.full(q.shape, 0.01) for q in p]
    return [("inner_steps=-1", lambda: m.meta_loss({"params": p, "lr": lr}, t, mlp.mse, -1)),
            ("inner_steps=1.5", lambda: m.meta_loss({"params": p, "lr": lr}, t, mlp.mse, 1.5)),
            ("meta without 'lr'", lambda: m.meta_loss({"params": p}, t, mlp.mse, 1))]


def lslr_bad_inputs(m, case):
    p, t = case.params, case.tasks
    meta = {"params": p, "lr": np.full((case.steps, len(p)), 0.01)}
    return [("init inner_steps=0", lambda: m.init(p, 0)),
            ("meta with a key 'curvature' too many", lambda: m.meta_loss(dict(meta, curvature=None), t, mlp.mse)),
            ("adapt inner_steps=-1", lambda: m.adapt(meta, *support(case), mlp.mse, -1))]


def metacurvature_bad_inputs(m, case):
    p, t = case.params, case.tasks
    meta = {"params": p, "curvature": identity_curvature(p)}
    return [("inner_lr=-0.1", lambda: m.meta_loss(meta, t, mlp.mse, -0.1, 1)),
            ("inner_steps=-2", lambda: m.meta_loss(meta, t, mlp.mse, 0.01, -2)),
            ("meta without 'curvature'", lambda: m.meta_loss({"params": p}, t, mlp.mse, 0.01, 1))]


def enhanced_bad_inputs(m, case):
    p, t, steps = case.params, case.tasks, case.steps
    meta = {"params": p, "lr": np.full((steps, len(p)), 0.01), "curvature": identity_curvature(p)}
    return [("init inner_steps=0", lambda: m.init(p, 0)),
            ("meta without 'curvature'", lambda: m.meta_loss({"params": p, "lr": meta["lr"]}, t, mlp.mse)),
            ("adapt inner_steps=-1", lambda: m.adapt(meta, *support(case), mlp.mse, -1)),
            ("msl_weights(0, 0, 10)", lambda: m.msl_weights(0, 0, 10)),
            ("msl_weights(3, -1, 10)", lambda: m.msl_weights(3, -1, 10))]


def anil_bad_inputs(m, case):
    return maml_bad_inputs(m, case)


def imaml_bad_inputs(m, case):
    p, t, lr, reg = case.params, case.tasks, case.inner_lr, case.settings["reg"]
    return [("reg=0", lambda: m.meta_gradient(p, t, mlp.mse, lr, 1, 0.0, 3)),
            ("adapt reg=-1", lambda: m.adapt(p, *support(case), mlp.mse, lr, 2, -1.0)),
            ("inner_lr=-0.1", lambda: m.meta_gradient(p, t, mlp.mse, -0.1, 1, reg, 3)),
            ("inner_steps=-1", lambda: m.meta_gradient(p, t, mlp.mse, lr, -1, reg, 3)),
            ("cg_steps=0", lambda: m.meta_gradient(p, t, mlp.mse, lr, 1, reg, 0)),
            ("cg_steps=2.5", lambda: m.query_loss_and_meta_gradient(p, t, mlp.mse, lr, 1, reg, 2.5))]


def cavia_bad_inputs(m, case):
    p, t, n = case.params, case.tasks, case.settings["n_context"]
    return [("inner_lr=0", lambda: m.meta_loss(p, t, mlp.mse, n, 0.0, 1)),
            ("inner_steps=-1", lambda: m.meta_loss(p, t, mlp.mse, n, 0.01, -1)),
            ("adapt inner_steps=1.5", lambda: m.adapt(p, *support(case), mlp.mse, n, 0.01, 1.5))]


Algorithm = namedtuple("Algorithm", [
    "functions",   # the names FILE must define
    "meta",        # case -> learned meta-parameters away from their init (as autograd differentiates them)
    "weights",     # meta-parameters (or their gradient) -> the network's weights among them
    "update",      # (meta, case) -> the inner step of one task, (w, g, s) -> w, or None (see loop)
    "adapt",       # (module, meta, x, y, case, steps) -> module's fast weights
    "loss",        # (module, meta, case, **first_order) -> module's meta-loss
    "init",        # (module, case) -> module's initial meta-parameters, for the reduction to MAML
    "h",           # finite-difference step: learned rates and matrices bend the meta-loss sharply
    "bad_inputs",  # (module, case) -> [(label, call that must raise ValueError)]
    "properties",
    "prepare",     # case -> the case with the algorithm's own settings (case.settings), or None: as drawn
    "loop"],       # (meta, case, steps) -> the reference's fast weights after 0..steps steps, where a step
    defaults=(None, None))  # depends on more than w, g and s (iMAML's); None: update's trajectory


def meta_params(meta):
    return meta["params"]


MAML_LIKE = dict(meta=lambda case: case.params, weights=lambda meta: meta, h=gradcheck.H)

ALGORITHMS = {
    "maml": Algorithm(
        functions=("adapt", "meta_loss"), **MAML_LIKE, init=None,
        update=lambda meta, case: sgd(case.inner_lr),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.inner_lr, case.steps, **kw),
        bad_inputs=maml_bad_inputs,
        properties=(ADAPT, META_LOSS, GRADIENT, FIRST_ORDER, ZERO_STEPS, BAD_INPUT)),
    "reptile": Algorithm(
        functions=("adapt", "meta_gradient"), **MAML_LIKE, init=None, loss=None,
        update=lambda meta, case: sgd(case.inner_lr),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps),
        bad_inputs=reptile_bad_inputs,
        properties=(ADAPT, REPTILE, BAD_INPUT)),
    "metasgd": Algorithm(
        functions=("init", "adapt", "meta_loss"), weights=meta_params, h=1e-5,
        meta=lambda case: {"params": case.params, "lr": [rates(case, p.shape) for p in case.params]},
        update=lambda meta, case: per_weight(meta["lr"]),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.steps, **kw),
        init=lambda m, case: m.init(case.params, case.inner_lr),
        bad_inputs=metasgd_bad_inputs,
        properties=(ADAPT, META_LOSS, GRADIENT, FIRST_ORDER, AT_INIT, ZERO_STEPS, BAD_INPUT)),
    "lslr": Algorithm(
        functions=("init", "adapt", "meta_loss"), weights=meta_params, h=1e-5,
        meta=lambda case: {"params": case.params, "lr": rates(case, (case.steps, len(case.params)))},
        update=lambda meta, case: per_array_and_step(meta["lr"]),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, **kw),
        init=lambda m, case: m.init(case.params, case.steps, case.inner_lr),
        bad_inputs=lslr_bad_inputs,
        properties=(ADAPT, PAST_TRAINED, META_LOSS, GRADIENT, FIRST_ORDER, AT_INIT, ZERO_STEPS, BAD_INPUT)),
    "metacurvature": Algorithm(
        functions=("init", "adapt", "meta_loss"), weights=meta_params, h=1e-5,
        meta=lambda case: {"params": case.params, "curvature": curvature(case)},
        update=lambda meta, case: curved(meta["curvature"], case.inner_lr),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.inner_lr, case.steps, **kw),
        init=lambda m, case: m.init(case.params),
        bad_inputs=metacurvature_bad_inputs,
        properties=(ADAPT, META_LOSS, GRADIENT, FIRST_ORDER, AT_INIT, ZERO_STEPS, BAD_INPUT)),
    "enhanced": Algorithm(
        functions=("init", "adapt", "meta_loss", "msl_weights"), weights=meta_params, h=1e-5,
        meta=lambda case: {"params": case.params, "lr": rates(case, (case.steps, len(case.params))),
                           "curvature": curvature(case)},
        update=lambda meta, case: per_array_and_step(meta["lr"], meta["curvature"]),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, **kw),
        init=lambda m, case: m.init(case.params, case.steps, case.inner_lr),
        bad_inputs=enhanced_bad_inputs,
        properties=(ADAPT, PAST_TRAINED, META_LOSS, MULTI_STEP, GRADIENT, MULTI_STEP_GRADIENT, FIRST_ORDER,
                    AT_INIT, MSL_WEIGHTS, ZERO_STEPS, BAD_INPUT)),
    "anil": Algorithm(
        functions=("adapt", "meta_loss"), **MAML_LIKE, init=None,
        update=lambda meta, case: head_only(case.inner_lr),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.inner_lr, case.steps, **kw),
        bad_inputs=anil_bad_inputs,
        properties=(ADAPT, META_LOSS, GRADIENT, FIRST_ORDER, ALL_HEAD, ZERO_STEPS, BAD_INPUT)),
    "imaml": Algorithm(
        functions=("adapt", "query_loss_and_meta_gradient", "meta_gradient", "cg"), **MAML_LIKE, init=None,
        prepare=imaml_case, update=None,
        loop=lambda meta, case, steps: halving(meta, *support(case), case.inner_lr, case.settings["reg"], steps),
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.inner_lr, steps,
                                                         case.settings["reg"]),
        loss=lambda m, meta, case: m.query_loss_and_meta_gradient(meta, case.tasks, mlp.mse, case.inner_lr,
                                                                  case.steps, case.settings["reg"], 1)[0],
        bad_inputs=imaml_bad_inputs,
        properties=(HALVING, NEVER_RISES, OWN_RATES, QUERY_LOSS, IMPLICIT, CG_ITERATES, CG_SOLVES, ZERO_STEPS,
                    BAD_INPUT, NEWTON, NEWTON_NEVER_RISES, NEWTON_IMPLICIT, NEWTON_BAD_INPUT)),
    "cavia": Algorithm(
        functions=("with_context", "adapt", "meta_loss"), **MAML_LIKE, init=None, update=None,
        prepare=cavia_case,
        adapt=lambda m, meta, x, y, case, steps: m.adapt(meta, x, y, mlp.mse, case.settings["n_context"],
                                                         case.inner_lr, steps),
        loss=lambda m, meta, case, **kw: m.meta_loss(meta, case.tasks, mlp.mse, case.settings["n_context"],
                                                     case.inner_lr, case.steps, **kw),
        bad_inputs=cavia_bad_inputs,
        properties=(CONTEXTS, CONTEXT_LOSS, GRADIENT, CONTEXTS_CONSTANT, NO_CONTEXT, ZERO_CONTEXT_STEPS,
                    WITH_CONTEXT, BAD_INPUT)),
}
