import os

from hypothesis import settings

from oracles import LARGEST

# The suite draws the same hypothesis examples on every run (derandomize: each test's seed is a hash of the test),
# so it passes or fails the same way every time: EXAMPLES=N sets how many a test (default 20). To search wider,
# `pytest --hypothesis-profile=explore` draws fresh random examples, 200 a test. Rerunning a failure: in the
# default profile, run the test again; under explore, pass the `--hypothesis-seed=N` it printed, or paste the
# `@reproduce_failure(...)` line it printed above the test.
settings.register_profile("default", max_examples=int(os.environ.get("EXAMPLES", 20)), deadline=None,
                          derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=int(os.environ.get("EXAMPLES", 200)), deadline=None,
                          print_blob=True)
settings.load_profile("default")


def pytest_addoption(parser):
    parser.addoption("--shard", default="0/1", metavar="K/N",
                     help="run every N-th test, from the K-th (tests/parallel.py runs the N shares side by side)")


def pytest_collection_modifyitems(config, items):
    k, n = map(int, config.getoption("--shard").split("/"))
    if n > 1:
        config.hook.pytest_deselected(items=[item for i, item in enumerate(items) if i % n != k])
        items[:] = [item for i, item in enumerate(items) if i % n == k]


def pytest_terminal_summary(terminalreporter):
    if LARGEST:
        terminalreporter.write_sep("-", "largest finite-difference relative error per gradient")
        for name, error in sorted(LARGEST.items()):
            terminalreporter.write_line(f"{name:40s} {error:.2e}")
