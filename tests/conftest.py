import os

from hypothesis import settings

from oracles import LARGEST

settings.register_profile("default", max_examples=int(os.environ.get("EXAMPLES", 20)), deadline=None)
settings.load_profile("default")


def pytest_terminal_summary(terminalreporter):
    if LARGEST:
        terminalreporter.write_sep("-", "largest finite-difference relative error per gradient")
        for name, error in sorted(LARGEST.items()):
            terminalreporter.write_line(f"{name:40s} {error:.2e}")
