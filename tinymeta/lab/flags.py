"""Argument types shared by the two command lines (cli.py and reproduce.py): one-line errors, checked numbers."""
import argparse
import math


GIVEN = "_given"  # the options seen while parsing, kept on the namespace until parsing ends


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block): `tinymeta train: error: ...`, and an option
    that takes a value may be given only once (argparse itself would silently keep the last)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register("action", None, Once)  # None: what add_argument uses when no action is named
        self.register("action", "store", Once)

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        vars(namespace).pop(GIVEN, None)
        return namespace, extras

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class Once(argparse.Action):
    """argparse's "store", refusing a second occurrence: `--resume A --resume B` is an error, not B."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = vars(namespace).setdefault(GIVEN, set())
        if self.dest in given:
            parser.error(f"{option_string or self.metavar or self.dest} given twice "
                         f"({getattr(namespace, self.dest)!r}, then {values!r}): give it once")
        given.add(self.dest)
        setattr(namespace, self.dest, values)


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonnegative_int(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return int(text)


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def boolean(text):
    if text.lower() not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")
    return text.lower() in ("true", "1")
