"""A run folder: DIR/config.json and DIR/checkpoint.npz, written atomically, read back bit for bit.

The .npz holds a format marker, every meta-parameter array under its path ("meta/params/0",
"meta/lr/2", ...), Adam's state ("adam/t", "adam/m", "adam/v"), the task generator's state
(JSON), the iteration, the per-iteration meta-loss history and, as "run" (JSON), the configuration it
was trained with but for the iteration count. DIR/config.json holds the run's configuration; `make
reproduce` adds DIR/result.json (write_json), with the code's commit, and DIR/meta.npz, the meta-parameters
alone (save_meta, load_meta: what results/ commits of a run). Nothing is pickled, so loading a checkpoint
cannot run code.

Loading refuses a config.json that names another run than the checkpoint's record: another algorithm,
network, seed, shots or meta-batch, task family, ways, queries or turns (IDENTITY; a setting neither has,
such as ways of a sinusoid run, agrees). Other settings, such as the inner learning rate that
`evaluate` adapts with, may be changed in config.json on purpose. Checkpoints written before the record
was added (same FORMAT, no "run") are checked against config.json by their shapes only (train.load).
"""
import json
import os
import subprocess
import tempfile

import numpy as np

FORMAT = "tinymeta checkpoint v1"
IDENTITY = ("algorithm", "hidden", "seed", "shots", "meta_batch", "problem", "ways", "queries", "rotate")


class CheckpointError(ValueError):
    """A missing, corrupt or foreign run folder; the message is one line naming it."""


def save(run_dir, state, config=None):
    """Write state (meta, adam=(t, m, v), rng, iteration, history) to run_dir/checkpoint.npz, with
    `config` (but its "iterations") as the record of the run it belongs to.

    Atomic: a temporary file in the same folder is written, flushed to disk, then renamed over
    the old checkpoint, so a crash at any moment leaves the old or the new one, never half of one.
    """
    t, m, v = state["adam"]
    arrays = dict(leaves(state["meta"], "meta"), format=np.array(FORMAT), iteration=np.array(state["iteration"]),
                  history=np.array(state["history"], dtype=np.float64), rng=np.array(json.dumps(state["rng"].bit_generator.state)))
    arrays.update({"adam/t": np.array(t), "adam/m": m, "adam/v": v})
    if config is not None:
        arrays["run"] = np.array(json.dumps({k: v for k, v in config.items() if k != "iterations"}, sort_keys=True))
    with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".checkpoint-", suffix=".tmp", delete=False) as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, os.path.join(run_dir, "checkpoint.npz"))


def load(run_dir):
    """(config, state) of the run in run_dir; raises CheckpointError naming what is wrong."""
    if not os.path.isdir(run_dir):
        raise CheckpointError(f"no run folder {run_dir!r}")
    path, config_path = os.path.join(run_dir, "checkpoint.npz"), os.path.join(run_dir, "config.json")
    for p in (config_path, path):
        if not os.path.isfile(p):
            raise CheckpointError(f"{p} is missing: {run_dir!r} is not a tinymeta run folder")
    try:
        with open(config_path) as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{config_path} is not readable JSON ({e})") from None
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise CheckpointError(f"{path} is not an .npz file (it does not begin as a zip archive does)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as e:  # a truncated or foreign file can fail in many ways; all mean "unreadable"
        raise CheckpointError(f"{path} is corrupt or not an .npz file ({type(e).__name__}: {e})") from None
    if "format" not in arrays or arrays["format"].shape != () or str(arrays["format"]) != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT!r} file")
    try:
        rng = np.random.default_rng()
        rng.bit_generator.state = json.loads(str(arrays["rng"]))
        state = dict(meta=unleaves(arrays, "meta"), rng=rng, iteration=int(arrays["iteration"]),
                     adam=(int(arrays["adam/t"]), arrays["adam/m"], arrays["adam/v"]), history=arrays["history"].tolist())
        recorded = json.loads(str(arrays["run"])) if "run" in arrays else None  # None: written before the record
        if recorded is not None and not isinstance(recorded, dict):
            raise ValueError(f"its run record is a {type(recorded).__name__}")
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} is damaged ({type(e).__name__}: {e})") from None
    if recorded is not None:
        check_identity(recorded, config, path, config_path)
    return config, state


def check_identity(recorded, config, path, config_path):
    """Raise CheckpointError if config names another run than the one the checkpoint recorded."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path} does not hold a configuration (a JSON object)")
    differ = [k for k in IDENTITY if recorded.get(k) != config.get(k)]
    if differ:
        raise CheckpointError(f"{path} is of another run than {config_path} says: " + ", ".join(
            f"{k} {recorded.get(k)!r} in the checkpoint, {config.get(k)!r} in config.json" for k in differ))


def leaves(tree, prefix):
    """{path: array} for a nesting of dicts and lists: {"meta": {"params": [a, b]}} -> meta/params/0, meta/params/1."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return {prefix: np.asarray(tree)}
    out = {}
    for key, value in items:
        out.update(leaves(value, f"{prefix}/{key}"))
    return out


def unleaves(arrays, prefix):
    """The inverse of leaves: rebuild the nesting under `prefix`; numbered levels become lists."""
    tree = {}
    for path, value in arrays.items():
        if path.startswith(prefix + "/"):
            *parents, last = path[len(prefix) + 1:].split("/")
            node = tree
            for key in parents:
                node = node.setdefault(key, {})
            node[last] = value

    def listify(node):
        if not isinstance(node, dict):
            return node
        if node and all(k.isdigit() for k in node):
            return [listify(node[str(i)]) for i in range(len(node))]
        return {k: listify(v) for k, v in node.items()}
    return listify(tree)


def save_meta(run_dir, meta):
    """run_dir/meta.npz: the meta-parameters alone, under their paths as in a checkpoint, replaced atomically."""
    with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".meta-", suffix=".tmp", delete=False) as f:
        np.savez(f, **leaves(meta, "meta"))
    os.replace(f.name, os.path.join(run_dir, "meta.npz"))


def load_meta(run_dir):
    """(config, meta) of a run folder from its config.json and meta.npz; meta is the dict state["meta"] was."""
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    with np.load(os.path.join(run_dir, "meta.npz"), allow_pickle=False) as npz:
        return config, unleaves(dict(npz), "meta")


def write_config(run_dir, config):
    """run_dir/config.json, replaced atomically like the checkpoint."""
    temporary = os.path.join(run_dir, ".config.json.tmp")
    with open(temporary, "w") as f:
        f.write(json.dumps(config, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, os.path.join(run_dir, "config.json"))


def write_json(path, value):
    """value as indented JSON in path, replaced atomically (its folder is made if needed)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(json.dumps(value, indent=1) + "\n")
    os.replace(temporary, path)


def commit():
    """The git commit the code was at, with '+dirty' if tinymeta/ had uncommitted changes."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tinymeta/
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=package, capture_output=True, text=True)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
