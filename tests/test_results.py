"""The committed results keep their books: every sinusoid run of protocol.RUNS is there (and each classification run
once trained), made by committed code from the protocol's seeds with the command it records; every choice of a
hyperparameter is the best validation score (lowest MSE, highest accuracy) among candidates that were all tried, and
what the run trained with; a committed cell is what `evaluate` computes again; the task streams share no task;
the reproduction time results/README.md states is the sum of the runs' own times; the conclusions results/README.md
draws hold in the committed numbers."""
import json
import re
from pathlib import Path

import numpy as np

from tinymeta import maml, mlp, sinusoid
from tinymeta.lab import checkpoint, omniglot_report, protocol, registry, reproduce, train
from tinymeta.lab.evaluate import DIVERGED, evaluate

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "results"


def committed_runs():
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(RESULTS.glob("runs/*/result.json"))}


def test_every_run_of_the_protocol_is_committed_from_committed_code_and_the_protocol_seeds():
    """Every sinusoid run is committed; the classification runs, as they are trained, each by the same books."""
    runs = committed_runs()
    sinusoid = {name for name, spec in protocol.RUNS.items() if not reproduce.classifies(spec)}
    assert sinusoid <= set(runs) <= set(protocol.RUNS), (sinusoid - set(runs), set(runs) - set(protocol.RUNS))
    for name, r in runs.items():
        if r["algorithm"] != "nearest":
            assert f"--shots {r['shots']} " in r["command"] and f"--out results/runs/{name} " in r["command"], name
        assert r["seed"] == protocol.SEED and r["test_seed"] == protocol.TEST_SEED, name
        assert re.fullmatch(r"[0-9a-f]{40}", r["commit"]), f"{name} ran from uncommitted code: {r['commit']}"
        length = r["chosen"].get("iterations", protocol.RUNS[name]["iterations"])  # chosen on validation, or the protocol's
        assert r["iterations"] == length or r["diverged"], name


def test_every_choice_is_the_lowest_validation_score_and_what_the_run_trained_with():
    runs = committed_runs()
    for name, spec in protocol.RUNS.items():
        path = RESULTS / "select" / f"{name}.json"
        assert path.exists() == bool(spec["select"] and name in runs), name   # scores exactly for runs that choose
        if not path.exists():
            continue
        selection = json.loads(path.read_text())
        assert [c["candidate"] for c in selection["candidates"]] == spec["select"][1], name   # every candidate tried
        scored = [c for c in selection["candidates"] if c["score"] is not None]   # null: diverged in its trial
        best = max if reproduce.classifies(spec) else min   # accuracy, or MSE
        best = best(scored, key=lambda c: c["score"])["candidate"] if scored else spec["select"][1][0]
        assert selection["chosen"] == best == runs[name]["chosen"], name
        trained_with = reproduce.train_settings(spec, runs[name]["config"]["iterations"], runs[name]["config"]["hidden"], best)
        assert all(runs[name]["config"][k] == trained_with[k] for k in best), name


def test_a_committed_cell_is_what_evaluate_computes_again_and_what_a_loop_over_tasks_gives():
    run, shots, steps = "maml-finn-k10", 5, 5
    with np.load(RESULTS / "runs" / run / "meta.npz") as npz:
        meta = checkpoint.unleaves(dict(npz), "meta")
    record = json.loads((RESULTS / "runs" / run / "result.json").read_text())
    committed = record["evaluations"][str(shots)][steps]
    again = evaluate(meta, registry.ALGORITHMS["maml"], record["config"], train.task_stream(protocol.TEST_SEED, "evaluate"),
                     shots, steps, 1000)
    keys = ("mse_query", "ci_query", "median_query", "diverged")
    assert {k: again[steps][k] for k in keys} == {k: committed[k] for k in keys}
    tasks = sinusoid.sample_tasks(train.task_stream(protocol.TEST_SEED, "evaluate"), 1000, shots, shots)
    adapted = maml.adapt(meta["params"], tasks.x_support, tasks.y_support, mlp.mse, record["config"]["inner_lr"], steps)
    errors = mlp.mse(adapted, tasks.x_query, tasks.y_query)
    before = mlp.mse([np.repeat(p[None], 1000, axis=0) for p in meta["params"]], tasks.x_query, tasks.y_query)
    assert abs(errors.mean() - committed["mse_query"]) <= 1e-12 * committed["mse_query"]
    assert abs(1.96 * errors.std(ddof=1) / np.sqrt(1000) - committed["ci_query"]) <= 1e-12 * committed["ci_query"]
    assert np.sum(~np.isfinite(errors) | (errors > DIVERGED * before)) == committed["diverged"]


def test_training_validation_and_test_tasks_come_from_streams_that_share_no_task():
    first = {purpose: sinusoid.sample_tasks(train.task_stream(seed, purpose), 1000, 10, 10)
             for seed, purpose in ((protocol.SEED, "train"), (protocol.SEED, "validation"), (protocol.TEST_SEED, "evaluate"))}
    assert all(not np.any(np.isin(first[a].amplitude, first[b].amplitude)) for a in first for b in first if a != b)


def test_the_stated_reproduction_time_is_the_sum_of_the_runs_own_times():
    runs = committed_runs()
    omniglot = {name for name in runs if reproduce.classifies(protocol.RUNS[name])}
    hours, omniglot_hours = (sum(r["finished"] - r["started"] for name, r in runs.items() if (name in omniglot) == o) / 3600
                             for o in (False, True))
    text = " ".join((RESULTS / "README.md").read_text().split())
    assert f"the {len(runs) - len(omniglot)} sinusoid runs take {hours:.1f} hours, one core each, and the " \
           f"{len(omniglot)} Omniglot runs {omniglot_hours:.1f} hours" in text
    assert f"about {hours / 2:.1f} plus {omniglot_hours / 2:.1f} hours of wall time" in text
    assert omniglot_hours / 2 <= 3  # the budget of the classification runs on two cores
    assert "The runs are independent" in text and "`make -jN reproduce` divides the total by about N" in text
    assert text.count(" hours") == 3  # stated once (and halved for two cores)


def test_the_conclusions_of_the_results_page_hold():
    """Each claim of the sentences that open results/README.md (and of its appendix on many steps), checked on
    the committed records: a rerun that changes a conclusion fails here until the page says what it shows."""
    text = " ".join((RESULTS / "README.md").read_text().split())
    runs = {name: r for name, r in committed_runs().items() if not reproduce.classifies(protocol.RUNS[name])}
    table = json.loads((RESULTS / "sinusoid.json").read_text())
    diverges = {(name, int(k)): any(e["diverged"] for e in records)
                for name, r in runs.items() for k, records in r["evaluations"].items()}
    # published cells met or missed by at most 0.022
    ours = {(r["run"], r["shots"], r["steps"]): r["mse_query"] for r in table["rows"]}
    short = [ours[run, k, s] - mean for run, k, s, mean, ci, source, held in protocol.PUBLISHED if held]
    assert f"come within {round(max(short), 3)} of them" in text
    # trained with one step and asked for more: exact MAML and learned rates diverge, four others never do
    assert "exact MAML and the three methods that learn their rates (Meta-SGD, LSLR, Enhanced) diverge" in text
    assert all(diverges[f"{a}-k{k}", k] for a in ("maml", "metasgd", "lslr", "enhanced") for k in protocol.SHOTS)
    assert not any(diverges[f"{a}-k{k}", k] for a in ("fomaml", "reptile", "imaml", "cavia") for k in protocol.SHOTS)
    # trained with five steps: MAML, LSLR, Meta-Curvature and Enhanced never diverge; the lowest errors after five
    # steps are runs trained with five, Enhanced's at both K
    assert "MAML, LSLR, Meta-Curvature and Enhanced diverge on none" in text
    assert not any(diverges[f"{a}-5step-k{k}", k] for a in ("maml", "lslr", "metacurvature", "enhanced")
                   for k in protocol.SHOTS)
    for k in protocol.SHOTS:
        five = {r["run"]: r["mse_query"] for r in table["rows"] if r["shots"] == k and r["steps"] == 5 and not r["diverged"]}
        assert min(five, key=five.get) == f"enhanced-5step-k{k}"
    # task by task beside the MAML runs that never diverge: CAVIA better after 1 and 5 steps at both K, iMAML at
    # K = 5 after every step count; at K = 10 iMAML better than maml-5step after one step only, worse after five
    pairs = {(p["run"], p["against"]): dict(zip(protocol.REPORT_STEPS, p["cells"])) for p in table["paired"]}
    better = lambda c: c["mean"] + c["ci"] < 0 and not c["left_out"]  # noqa: E731
    worse = lambda c: c["mean"] - c["ci"] > 0 and not c["left_out"]  # noqa: E731
    for k in protocol.SHOTS:
        for against in (f"maml-5step-k{k}", "maml-finn-k10"):
            assert not diverges[against, k]
            assert better(pairs[f"cavia-k{k}", against][1]) and better(pairs[f"cavia-k{k}", against][5])
    assert all(better(c) or (c["left_out"] and c["mean"] + c["ci"] < 0)
               for (run, _), cells in pairs.items() if run == "imaml-k5" for c in cells.values())
    assert better(pairs["imaml-k10", "maml-5step-k10"][1]) and not better(pairs["imaml-k10", "maml-finn-k10"][1])
    assert worse(pairs["imaml-k10", "maml-5step-k10"][5]) and worse(pairs["imaml-k10", "maml-finn-k10"][5])
    # ANIL: the highest error of the meta-learners after one step, at both K
    for k in protocol.SHOTS:
        one = {r["run"]: r["mse_query"] for r in table["rows"]
               if r["shots"] == r["train_shots"] == k and r["steps"] == 1 and r["algorithm"] != "pretrain"}
        assert max(one, key=one.get) == f"anil-k{k}"


def test_the_conclusions_on_omniglot_hold():
    """The paragraph under results/README.md's Omniglot table, claim by claim, on results/omniglot.json and the
    runs' records."""
    text = " ".join((RESULTS / "README.md").read_text().split())
    rows = json.loads((RESULTS / "omniglot.json").read_text())
    cell = {(r["algorithm"], r["shots"], r["steps"]): r for r in rows if "accuracy" in r}
    lake = {(r["algorithm"], r["background"], r["steps"]): r["error"] for r in rows if "error" in r}
    low, high = (lambda r: r["accuracy"] - r["ci"]), (lambda r: r["accuracy"] + r["ci"])  # noqa: E731
    assert "After one step, MAML, ANIL and Meta-SGD are beyond the interval above both baselines at both K" in text
    for k in (1, 5):
        baseline = max(high(cell["nearest", k, 0]), high(cell["pretrain", k, 1]))
        assert all(low(cell[a, k, 1]) > baseline for a in ("maml", "anil", "metasgd")), k
        assert all(abs(cell[a, k, 10]["accuracy"] - cell[a, k, 1]["accuracy"]) <= 0.02 for a in ("anil", "metasgd")), k
        assert cell["maml", k, 10]["accuracy"] < cell["maml", k, 3]["accuracy"] < cell["maml", k, 1]["accuracy"], k
        assert all(high(cell[a, k, 1]) < low(cell["pretrain", k, 1]) for a in ("fomaml", "reptile")), k
        record = lambda a: json.loads((RESULTS / "runs" / f"omniglot-{a}-5w{k}s" / "result.json").read_text())  # noqa: E731
        maml = record("maml")
        assert maml["config"]["inner_lr"] == 2.0 and maml["evaluations"][str(k)][3]["loss"] > 1e5, k
        assert record("fomaml")["evaluations"][str(k)][0]["loss"] > 10, k
    assert "stay within two points of their one-step accuracy after ten steps" in text
    assert "0.4 on their loss, summed over the 5 classes: 2.0 on our mean cross-entropy" in text
    assert "cross-entropy after three steps is above 100,000 at both K" in text
    assert "less accurate after three steps than after one, and after ten less still" in text
    assert "cross-entropy before any step is above 10," in text
    steps = omniglot_report.LAKE_STEPS
    assert "MAML diverges with five steps of Finn et al.'s 0.1 on the sum" in text
    at_2 = json.loads((RESULTS / "superseded" / "omniglot-20w1s-both-rate2" / "maml" / "result.json").read_text())
    assert at_2["config"]["inner_lr"] == 2.0 and [r["error"] for r in at_2["lake"] if r["steps"] == steps][0] > 0.9
    assert "MAML trained on both minimal sets errs less than on either one alone" in text
    assert lake["maml", "both", steps] < min(lake["maml", "small1", steps], lake["maml", "small2", steps])
    (hausdorff,) = [value for method, _, value, *_ in protocol.LAKE_PUBLISHED if method.startswith("modified Hausdorff")]
    assert lake["maml", "both", steps] > hausdorff / 100 and f"far from the modified Hausdorff distance's {hausdorff}%" in text


def test_what_a_reader_meets_first_holds_no_huge_number_and_no_nan():
    """results/README.md and the README's results: no nan anywhere, no error written with an exponent, and in
    every table cell no number above 1e3 but a count of diverged tasks ("diverged 3/1000")."""
    page = (RESULTS / "README.md").read_text()
    readme = (ROOT / "README.md").read_text()
    glance = readme[readme.index("## Results at a glance"):]
    glance = glance[:glance.index("\n## ", 3)]
    for name, text in (("results/README.md", page), ("README.md", glance)):
        assert not re.search(r"\bnan\b", text, re.I), name
        cells = [c for line in text.splitlines() if line.startswith("|") for c in line.strip("|").split("|")[1:]]
        assert len(cells) > 20, name
        for c in cells:
            c = re.sub(r"diverged (on )?\d+( of |/)[\d,]+|(et al\.|Oliva) \d{4}", "", c)  # counts, sources' years
            assert not re.search(r"\d[eE][+-]?\d", c), (name, c)
            assert all(float(x) <= 1e3 for x in re.findall(r"\d+\.?\d*", c.replace(",", ""))), (name, c)
    assert not re.search(r"\d[eE][+-]?\d", page[:page.index("## Appendix")])
