"""Omniglot classification through the machinery: --problem omniglot in train, evaluate, plot and nearest;
the loss every algorithm gets from the run's family; the pretrain baseline's head over all training classes;
evaluation against a per-task loop, on the test characters, and on Lake's runs; old sinusoid configurations.

Runs use a tiny network (--hidden 8) and small meta-batches so that the whole file stays fast.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from autograd import grad

from test_cli import assert_same_checkpoint, npz, run_cli
from tinymeta import maml, mlp, omniglot
from tinymeta.lab import families, registry, train
from tinymeta.lab.evaluate import evaluate, lake, task_chunks

TINY = ["--problem", "omniglot", "--meta-batch", "2", "--quiet"]


@pytest.fixture(scope="module")
def omniglot_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "maml"
    from tinymeta.lab import cli
    assert cli.main(["train", "maml", *TINY, "--hidden", "8", "--iterations", "6", "--out", str(out)]) == 0
    return out


def test_an_omniglot_run_has_finn_et_al_s_settings_and_a_784_input_network(omniglot_run):
    config = json.loads((omniglot_run / "config.json").read_text())
    assert config == dict(train.OMNIGLOT, algorithm="maml", queries=1, hidden=[8], meta_batch=2, iterations=6,
                          first_order_iterations=0)
    assert (config["ways"], config["shots"], config["inner_lr"], config["rotate"]) == (5, 1, 2.0, True)
    arrays = npz(omniglot_run)
    assert [arrays[f"meta/params/{i}"].shape for i in range(4)] == [(784, 8), (8,), (8, 5), (5,)]
    assert train.make_config("maml", problem="omniglot", shots=5)["queries"] == 5  # as many queries as shots


def test_sinusoid_configurations_stay_as_they_were():
    """No "problem" in a sinusoid run's configuration unless given, so that the committed runs (written before
    there was a choice) and new ones read alike: the same network, the squared error, sinusoid tasks."""
    assert "problem" not in train.make_config("maml")
    assert train.make_config("maml", problem="sinusoid") == dict(train.make_config("maml"), problem="sinusoid")
    committed = sorted((Path(__file__).parent.parent / "results" / "runs").glob("*/config.json"))
    committed = [path for path in committed if not path.parent.name.startswith("omniglot-")]
    assert committed
    for path in committed:
        config = json.loads(path.read_text())
        assert "problem" not in config and families.loss(config) is mlp.mse
        assert train.sizes(config)[0] == 1 + config.get("n_context", 0) and train.sizes(config)[-1] == 1


@pytest.mark.parametrize("algorithm", list(registry.ALGORITHMS))
def test_every_algorithm_trains_and_evaluates_with_cross_entropy_only(capsys, tmp_path, monkeypatch, algorithm):
    """The loss comes from the run's family: on Omniglot nothing calls the squared error."""
    def refuse(*args):
        raise AssertionError("mlp.mse called on an Omniglot run")
    monkeypatch.setattr(mlp, "mse", refuse)
    code, _, err = run_cli(capsys, "train", algorithm, *TINY, "--hidden", "4", "--iterations", 2, "--out", tmp_path / "r")
    assert code == 0, err
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "r", "--tasks", 3, "--steps", 1, "--json")
    assert code == 0 and len(json.loads(out)["test_tasks"]) == 2, err


@pytest.mark.parametrize("algorithm", ["maml", "pretrain"])
def test_resume_is_bit_identical(capsys, tmp_path, algorithm):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert run_cli(capsys, "train", algorithm, *TINY, "--hidden", 8, "--iterations", 6, "--out", whole)[0] == 0
    assert run_cli(capsys, "train", algorithm, *TINY, "--hidden", 8, "--iterations", 2, "--out", parts)[0] == 0
    assert run_cli(capsys, "train", "--resume", parts, "--iterations", 6)[0] == 0
    assert_same_checkpoint(whole, parts)


def test_training_draws_turned_tasks_from_the_training_characters(tmp_path, monkeypatch):
    drawn, sample = [], families.sample
    monkeypatch.setattr(families, "sample", lambda rng, config, n, part, *a: drawn.append(part) or sample(rng, config, n, part, *a))
    train.start(tmp_path / "r", train.make_config("maml", problem="omniglot", hidden=[4], meta_batch=2))
    train.run(tmp_path / "r", 3, quiet=True)
    assert drawn == ["train"] * 3
    tasks = families.sample(np.random.default_rng(0), train.make_config("maml", problem="omniglot"), 50, "train")
    assert tasks.turns.max() == 3 and tasks.classes.max() < len(families.characters("train"))


def test_a_run_with_a_background_set_draws_every_character_of_that_set_and_no_other():
    """--background small1: every character of the first minimal set is drawn, turned, and none of the second's
    alone (Greek and Latin are in both); the pretrain head counts that set's classes; nothing else changes."""
    small1, small2 = (omniglot.load(path) for path in omniglot.MINIMAL_SETS)
    assert (len(small1.images), len(small2.images)) == (136, 156)  # 242 in all: Greek and Latin are in both
    assert [len(families.characters("train", b)) for b in families.BACKGROUNDS] == [136, 156, 242]
    config = train.make_config("maml", problem="omniglot", background="small1", ways=20)
    tasks = families.sample(np.random.default_rng(0), config, 300, "train")
    assert set(np.unique(tasks.classes)) == set(range(136)) and tasks.turns.max() == 3
    unturned = families.sample(np.random.default_rng(0), dict(config, rotate=False), 30, "train")
    drawn = np.concatenate([unturned.x_support, unturned.x_query], axis=1).reshape(-1, 784)
    own = rows(small1.images)
    assert all(x.tobytes() in own for x in drawn)
    assert not rows(small2.images[~np.isin(small2.alphabet, ["Greek", "Latin"])]) & {x.tobytes() for x in drawn}
    assert families.classes(config) == 136 * 4 and families.classes(dict(config, background="both")) == 242 * 4
    with pytest.raises(ValueError, match="holds out no test characters"):
        families.sample(np.random.default_rng(0), config, 1, "test")
    without = train.make_config("maml", problem="omniglot")
    assert "background" not in without and without == train.make_config("maml", problem="omniglot", ways=5)
    assert "background" not in train.make_config("maml")


def test_a_run_with_validation_trains_on_the_training_and_validation_characters_never_the_test_ones():
    """--with-validation: the training part is the split's 146 training and 24 validation characters, there is no
    validation part, and the test characters are those of every other run."""
    train_part, validation, test = omniglot.split(omniglot.load().images)
    config = train.make_config("maml", problem="omniglot", with_validation=True)
    tasks = families.sample(np.random.default_rng(0), dict(config, rotate=False), 400, "train")
    drawn = {x.tobytes() for x in np.concatenate([tasks.x_support, tasks.x_query], axis=1).reshape(-1, 784)}
    assert set(np.unique(tasks.classes)) == set(range(170)) and families.classes(config) == 170 * 4
    assert drawn & rows(validation) and drawn & rows(train_part) and not drawn & rows(test)
    assert np.array_equal(families.of(config, "test"), test) and families.parts(config) == ("train", "test")
    with pytest.raises(ValueError, match="holds none out for validation"):
        families.sample(np.random.default_rng(0), config, 1, "validation")
    assert "with_validation" not in train.make_config("maml", problem="omniglot")


def test_a_background_run_is_checked_on_its_own_set():
    """20-way needs 20 characters in each part drawn from: the split's validation part has 24, small1 136."""
    assert train.make_config("maml", problem="omniglot", ways=136, background="small1")["ways"] == 136
    with pytest.raises(train.ConfigError, match="--ways 137 is more than the 136 characters of the background set small1"):
        train.make_config("maml", problem="omniglot", ways=137, background="small1")
    assert train.make_config("maml", problem="omniglot", ways=156, background="small2")["ways"] == 156
    with pytest.raises(train.ConfigError, match="--ways 25 is more than the 24 characters of the smallest part"):
        train.make_config("maml", problem="omniglot", ways=25)
    with pytest.raises(train.ConfigError, match="--background 'small3' is not one of small1, small2, both"):
        train.make_config("maml", problem="omniglot", background="small3")


def test_a_background_run_is_evaluated_and_drawn_on_lakes_runs_only(capsys, tmp_path):
    run = tmp_path / "bg"
    assert run_cli(capsys, "train", "anil", *TINY, "--hidden", 8, "--ways", 20, "--background", "small2",
                   "--iterations", 2, "--out", run)[0] == 0
    code, out, _ = run_cli(capsys, "evaluate", run, "--steps", 1, "--json")
    records = json.loads(out)
    assert code == 0 and records["test_tasks"] is None and [r["trials"] for r in records["lake_runs"]] == [400, 400]
    code, out, _ = run_cli(capsys, "evaluate", run, "--steps", 1)
    assert code == 0 and "background set small2" in out and "error on Lake's 400 trials" in out
    assert run_cli(capsys, "plot", run, "--out", tmp_path / "p.png")[0] == 0


def rows(images):
    """Every drawing of images (n, drawings, 28, 28) as a set of byte strings, to look drawings up."""
    return {a.tobytes() for a in images.reshape(-1, 784)}


def test_evaluation_is_on_the_test_characters_and_matches_a_per_task_loop(omniglot_run):
    config, state, algorithm = train.load(omniglot_run)
    records = evaluate(state["meta"], algorithm, config, train.task_stream(5, "evaluate"), 1, 2, 25, queries=3)
    assert [r["steps"] for r in records] == [0, 1, 2] and all(r["tasks"] == 25 for r in records)
    tasks = list(task_chunks(train.task_stream(5, "evaluate"), config, 1, 3, 25))
    assert [len(t.x_query) for t in tasks] == [20, 5]  # drawn in chunks of 20
    test = rows(families.characters("test"))
    assert all(x.tobytes() in test for t in tasks for x in np.concatenate([t.x_support, t.x_query], axis=1).reshape(-1, 784))
    for s in range(3):
        accuracy, loss = [], []
        for t in tasks:
            for xs, ys, xq, yq in zip(t.x_support, t.y_support, t.x_query, t.y_query):
                w = state["meta"]["params"]
                for _ in range(s):
                    w = [p - config["inner_lr"] * g for p, g in zip(w, grad(mlp.cross_entropy)(w, xs, ys))]
                accuracy.append(mlp.accuracy(w, xq, yq))
                loss.append(mlp.cross_entropy(w, xq, yq))
        assert abs(records[s]["accuracy"] - np.mean(accuracy)) < 1e-12
        assert abs(records[s]["loss"] - np.mean(loss)) < 1e-10 * np.mean(loss)
        assert abs(records[s]["ci_accuracy"] - 1.96 * np.std(accuracy, ddof=1) / 5) < 1e-12


def test_evaluate_and_nearest_on_the_command_line_see_the_same_tasks(capsys, omniglot_run):
    code, out, _ = run_cli(capsys, "evaluate", omniglot_run, "--tasks", 30, "--seed", 2, "--json")
    config, state, algorithm = train.load(omniglot_run)
    assert code == 0 and json.loads(out) == {"test_tasks": evaluate(state["meta"], algorithm, config,
                                                                     train.task_stream(2, "evaluate"), 1, 3, 30),
                                             "lake_runs": None}  # 3 steps by default; a 5-way run is not scored on Lake's
    code, out, _ = run_cli(capsys, "nearest", "--tasks", 30, "--seed", 2, "--json")
    guessed = []  # per task, the fraction of queries whose nearest support drawing has their label
    for chunk in task_chunks(train.task_stream(2, "evaluate"), config, 1, 1, 30):
        for xs, ys, xq, yq in zip(chunk.x_support, chunk.y_support, chunk.x_query, chunk.y_query):
            nearest = [np.argmin([np.sum((q - s) ** 2) for s in xs]) for q in xq]
            guessed.append(np.mean(np.argmax(ys[nearest], -1) == np.argmax(yq, -1)))
    records = json.loads(out)
    assert code == 0 and records["test_tasks"]["tasks"] == 30 and records["test_tasks"]["accuracy"] == pytest.approx(np.mean(guessed), abs=1e-12)
    assert records["lake_runs"]["trials"] == 400 and 0 < records["lake_runs"]["wrong"] < 400
    code, out, _ = run_cli(capsys, "evaluate", omniglot_run, "--tasks", 5, "--steps", 1)
    assert code == 0 and "accuracy on 5 queries" in out and "a run trained with --ways 20 is scored on them" in out


def test_a_20_way_run_is_scored_on_lakes_runs(capsys, tmp_path):
    run = tmp_path / "r20"
    assert run_cli(capsys, "train", "maml", *TINY, "--hidden", 8, "--ways", 20, "--inner-lr", 0.1, "--iterations", 2,
                   "--out", run)[0] == 0
    code, out, _ = run_cli(capsys, "evaluate", run, "--tasks", 2, "--steps", 2, "--json")
    on_runs = json.loads(out)["lake_runs"]
    assert code == 0 and [r["steps"] for r in on_runs] == [0, 1, 2] and all(r["trials"] == 400 for r in on_runs)
    config, state, algorithm = train.load(run)
    tasks = omniglot.lake_tasks(omniglot.lake_runs())
    fast = maml.adapt(state["meta"]["params"], tasks.x_support, tasks.y_support, mlp.cross_entropy, 0.1, 2)
    wrong = np.sum(np.argmax(mlp.predict(fast, tasks.x_query), -1) != omniglot.lake_runs().answers)
    assert on_runs[2]["wrong"] == wrong and on_runs[2]["error"] == wrong / 400
    assert lake(state["meta"], algorithm, config, 2) == on_runs
    code, out, _ = run_cli(capsys, "evaluate", run, "--tasks", 2, "--steps", 1)
    assert code == 0 and "error on Lake's 400 trials" in out


def test_pretrain_learns_every_training_class_and_fine_tunes_a_zero_head(capsys, tmp_path):
    """Classification pretraining: a head over the 146 x 4 training classes (characters, turned), the N-way last
    layer at 0, so that before fine-tuning every label is as likely (accuracy exactly 1/N, loss log N)."""
    config = train.make_config("pretrain", problem="omniglot", hidden=[6], meta_batch=3)
    meta = registry.ALGORITHMS["pretrain"].init(mlp.init(np.random.default_rng(0), train.sizes(config)), config)
    assert [np.shape(a) for a in meta["head"]] == [(6, 584), (584,)] and not np.any(meta["params"][-2])
    meta["head"] = [np.random.default_rng(1).standard_normal(a.shape) for a in meta["head"]]
    tasks = families.sample(np.random.default_rng(2), config, 3, "train")
    loss, g = registry.ALGORITHMS["pretrain"].loss_and_grad(meta, tasks, config, 1)
    assert not np.any(g["params"][-2]) and not np.any(g["params"][-1]) and np.any(g["head"][0])
    losses = []  # every image by itself, its class its character's number times four plus its turns
    for t in range(3):
        for x, y in ((tasks.x_support[t], tasks.y_support[t]), (tasks.x_query[t], tasks.y_query[t])):
            for xi, label in zip(x, np.argmax(y, -1)):
                cls = 4 * tasks.classes[t, label] + tasks.turns[t, label]
                losses.append(mlp.cross_entropy(meta["params"][:-2] + meta["head"], xi[None], np.eye(584)[cls][None]))
    assert abs(loss - np.mean(losses)) < 1e-12 * loss
    run = tmp_path / "p"
    assert run_cli(capsys, "train", "pretrain", *TINY, "--hidden", 8, "--iterations", 2, "--out", run)[0] == 0
    code, out, _ = run_cli(capsys, "evaluate", run, "--tasks", 4, "--steps", 1, "--json")
    first = json.loads(out)["test_tasks"][0]
    assert first["accuracy"] == 0.2 and first["loss"] == pytest.approx(np.log(5), rel=1e-14)


def test_plot_draws_a_task_of_the_test_characters(capsys, omniglot_run, tmp_path, monkeypatch):
    drawn, sample = [], families.sample
    monkeypatch.setattr(families, "sample", lambda rng, config, n, part, *a: drawn.append((n, part)) or sample(rng, config, n, part, *a))
    code, out, _ = run_cli(capsys, "plot", omniglot_run, "--out", tmp_path / "p.png")
    assert code == 0 and (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and drawn == [(1, "test")]


def test_a_checkpoint_refuses_a_configuration_of_other_tasks(capsys, omniglot_run, tmp_path):
    """Queries (or turns, ways, the family) changed in config.json: another run than the checkpoint's."""
    import shutil
    run = tmp_path / "edited"
    shutil.copytree(omniglot_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(dict(config, queries=3)))
    code, _, err = run_cli(capsys, "evaluate", run)
    assert code == 2 and "queries 1 in the checkpoint, 3 in config.json" in err


def test_help_names_the_family_flags(capsys):
    code, out, _ = run_cli(capsys, "train", "--help")
    assert code == 0 and all(flag in out for flag in ("--problem {sinusoid,omniglot}", "--ways N", "--queries Q", "--rotate BOOL"))
    code, out, _ = run_cli(capsys, "nearest", "--help")
    assert code == 0 and out.startswith("usage: tinymeta nearest")


@pytest.mark.parametrize("argv, bad", [
    (["train", "maml", "--ways", "5"], "maml does not take ways (those are for --problem omniglot)"),
    (["train", "maml", "--problem", "omniglot", "--ways", "25"], "--ways 25 is more than the 24 characters"),
    (["train", "maml", "--problem", "omniglot", "--shots", "15", "--queries", "6"], "need more than the 20 drawings"),
    (["train", "maml", "--problem", "imagenet"], "invalid choice: 'imagenet'"),
    (["train", "maml", "--problem", "omniglot", "--background", "small"], "argument --background: invalid choice: 'small'"),
    (["train", "maml", "--background", "small1"], "maml does not take background (those are for --problem omniglot)"),
    (["nearest", "--ways", "30"], "--ways 30 is more than the 24 characters"),
    (["evaluate", "OMNIGLOT", "--shots", "19", "--queries", "2"], "--shots 19 and --queries 2 need more than the 20"),
])
def test_bad_input_is_one_line_naming_it(capsys, omniglot_run, tmp_path, argv, bad):
    argv = [str(omniglot_run) if a == "OMNIGLOT" else a for a in argv]
    small = ["--hidden", 4, "--iterations", 1, "--quiet", "--out", tmp_path / "x"] if argv[0] == "train" else ["--tasks", 2]
    code, out, err = run_cli(capsys, *argv, *small)  # small: a check that is missing fails fast
    assert code == 2 and bad in err and len(err.strip().splitlines()) == 1, err
