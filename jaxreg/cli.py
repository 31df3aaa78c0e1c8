"""The ``jaxreg`` command. Orchestrates only: each subcommand lives in its own module and
registers itself here; this module turns every failure into one line on stderr.

Exit codes: 0 success, 1 a run that failed while running, 2 bad input (a config that does
not validate, a missing file, malformed YAML, an unknown option).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from jaxreg.errors import UsageError  # re-exported: ``from jaxreg.cli import UsageError`` still works

__all__ = ["SUBCOMMANDS", "UsageError", "build_parser", "main"]

# (module, function) pairs: ``function(subparsers)`` adds a subcommand whose parser sets
# ``func`` to a callable taking the parsed args and returning an exit code.
SUBCOMMANDS: list[tuple[str, str]] = [
    ("jaxreg.experiment.run", "add_parser"),
    ("jaxreg.experiment.sweep", "add_parser"),
]


def build_parser() -> argparse.ArgumentParser:
    from jaxreg import __version__

    parser = argparse.ArgumentParser(
        prog="jaxreg", description="Fit regularized linear models with JAX: experiments and benchmark sweeps."
    )
    parser.add_argument("--version", action="version", version=f"jaxreg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module, func in SUBCOMMANDS:
        getattr(importlib.import_module(module), func)(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("jaxreg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (UsageError, ValueError, FileNotFoundError) as exc:
        if args.debug:
            raise
        print(f"jaxreg: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug or an environment problem: still one line by default
        if args.debug:
            raise
        print(
            f"jaxreg: error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
