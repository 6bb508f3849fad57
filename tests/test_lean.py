"""What a student copies reads like its equations: in every top-level module of tinymeta/, at most a fifth of
the executable lines check input. The algorithm modules check only what the model cannot see (a rate, a step
count, a meta dict's keys), the model checks shapes, the command line checks what users type."""
import ast
import io
import tokenize
from pathlib import Path

import pytest

import tinymeta

MODULES = sorted(Path(tinymeta.__file__).parent.glob("*.py"))
LARGEST_SHARE = 0.20


def code_lines(source):
    """The lines holding code: no blank lines, no lines of comments only."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    return {line for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type not in skip
            for line in range(token.start[0], token.end[0] + 1)}


def lines_of(node):
    return set(range(node.lineno, node.end_lineno + 1))


def docstring(node):
    """The node's docstring statement, or None."""
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first
    return None


def calls_a_check(node):
    """An expression statement calling a function whose name starts with check: check(...), m.check_x(...)."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
        return False
    f = node.value.func
    return (f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")).startswith("check")


def measure(source):
    """(executable lines, validation lines): lines of statements, docstrings, blank lines and comments left
    out; validation = functions named check*, `if ...: raise` blocks and the statements that call a check."""
    tree = ast.parse(source)
    scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))]
    counted = code_lines(source) - {line for n in scopes if docstring(n) for line in lines_of(docstring(n))}
    executable, validation = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            executable |= lines_of(node)
        if (isinstance(node, ast.FunctionDef) and node.name.startswith("check")) or calls_a_check(node) or \
                (isinstance(node, ast.If) and any(isinstance(s, ast.Raise) for s in node.body)):
            validation |= lines_of(node)
    return len(executable & counted), len(validation & counted)


SAMPLE = '''"""A module."""
import numpy as np


def adapt(params, steps):
    """Two lines of docstring,
    not counted."""
    check(steps)  # a comment after code: counted

    # a comment alone: not counted
    if steps < 0:
        raise ValueError(
            f"steps must be >= 0, got {steps}")
    return [p * 2 for p in params]


def check(steps):
    if not steps:
        raise ValueError("no steps")
'''


def test_the_measure_counts_statements_and_validation_lines():
    """import, def, call, if, raise (2 lines), return, def, if, raise: 10 lines, of which 7 validate."""
    assert measure(SAMPLE) == (10, 7)


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_input_checks_are_at_most_a_fifth_of_every_top_level_module(path):
    executable, validation = measure(path.read_text())
    assert validation <= LARGEST_SHARE * executable, \
        f"tinymeta/{path.name}: {validation} of {executable} executable lines check input " \
        f"({validation / executable:.0%}, at most {LARGEST_SHARE:.0%})"
