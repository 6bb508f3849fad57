"""The package shows its two halves: the top level of tinymeta/ holds what a student reads and copies (the
model, the tasks, the algorithms), tinymeta/lab/ the machinery; imports run one way, never in a circle."""
import ast
from pathlib import Path

import tinymeta
import tinymeta.lab

PACKAGE = Path(tinymeta.__file__).parent
MODEL_AND_TASKS = {"__init__.py", "__main__.py", "mlp.py", "mlp_fast.py", "sinusoid.py", "omniglot.py",
                   "gradcheck.py"}  # gradcheck: copied by students beside their own module


def imports(path):
    """The tinymeta modules a file imports, as dotted names (`from tinymeta.lab import train` -> tinymeta.lab.train)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tinymeta"):
            modules = {f"{node.module}.{a.name}" for a in node.names}
            found |= {m for m in modules if module_path(m)} or {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tinymeta")}
    return found


def module_path(name):
    path = PACKAGE.parent.joinpath(*name.split("."))
    return next((p for p in (path.with_suffix(".py"), path / "__init__.py") if p.exists()), None)


def name_of(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_top_level_holds_the_model_the_tasks_and_algorithms_only():
    for path in PACKAGE.glob("*.py"):
        if path.name in MODEL_AND_TASKS:
            continue
        source = path.read_text()
        assert "def meta_loss(" in source or "def meta_gradient(" in source, \
            f"tinymeta/{path.name} is not an algorithm: machinery belongs in tinymeta/lab/"
    assert not {p.name for p in PACKAGE.glob("*.py")} & {"train.py", "evaluate.py", "cli.py", "checkpoint.py"}


def test_what_a_student_reads_never_imports_the_machinery():
    for path in PACKAGE.glob("*.py"):
        if path.name != "__main__.py":
            assert not any(m.startswith("tinymeta.lab") for m in imports(path)), path.name


def test_no_module_imports_another_in_a_circle():
    graph = {name_of(p): imports(p) - {name_of(p)} for p in PACKAGE.rglob("*.py")}
    done, active = set(), []

    def visit(m):
        if m in active:
            raise AssertionError("import cycle: " + " -> ".join(active[active.index(m):] + [m]))
        if m in done or m not in graph:
            return
        active.append(m)
        for d in sorted(graph[m]):
            visit(d)
        active.pop()
        done.add(m)
    for m in sorted(graph):
        visit(m)
    assert "tinymeta.lab.cli" in graph and "tinymeta.lab.train" in graph["tinymeta.lab.cli"]  # the graph is real


def test_the_machinery_imports_only_the_modules_listed_below_it():
    """tinymeta/lab/__init__.py lists every module of the machinery top-down; each imports only those below it."""
    listed = [line.split()[0] for line in tinymeta.lab.__doc__.split("\n\n")[2].splitlines()]
    assert sorted(listed) == sorted(p.stem for p in (PACKAGE / "lab").glob("*.py") if p.stem != "__init__")
    for i, name in enumerate(listed):
        below = {f"tinymeta.lab.{m}" for m in listed[i + 1:]}
        above = {m for m in imports(PACKAGE / "lab" / f"{name}.py") if m.startswith("tinymeta.lab.")} - below
        assert not above, f"tinymeta/lab/{name}.py imports {', '.join(sorted(above))}, listed above it"
