"""The one command-line style of ``bnconform``, ``python -m bnconform.reports``, ``python -m bnconform.cifar`` and
``python -m bnconform.blobs``.

Each builds an ``argparse`` parser with subcommands, every subcommand bound to its function with
``set_defaults(func=...)``; ``main(argv) -> int`` calls :func:`dispatch`, and ``__main__`` passes
the code to ``sys.exit``. Nothing else exits. A usage error returns :data:`USAGE` (2) after
argparse's message, which names the option (``PROG: error: argument --jobs: ...``); ``-h`` returns 0.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

USAGE = 2


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    """``parser.parse_args(argv)``, or the exit code argparse wanted (0 after ``-h``, 2 on a usage
    error) instead of its ``SystemExit``."""
    try:
        args, extra = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
        if extra:  # named by the subcommand's parser (plain parse_args names the top one)
            _chosen(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
        return args
    except SystemExit as exc:
        return 0 if exc.code in (0, None) else USAGE


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The subcommand's parser that ``args`` came from (else ``parser``)."""
    for action in parser._actions:  # argparse keeps subparsers as an action; no public accessor
        if isinstance(action, argparse._SubParsersAction) and action.dest != argparse.SUPPRESS:
            return action.choices.get(getattr(args, action.dest, None), parser)
    return parser


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and call the chosen subcommand's ``func(args)``; its return is the exit code.
    No subcommand: the usage on stderr, exit 2."""
    args = parse(parser, argv)
    if isinstance(args, int):
        return args
    func = getattr(args, "func", None)
    if func is None:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: a command is required", file=sys.stderr)
        return USAGE
    return func(args)


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer >= 1 (argparse names the option in the error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def usage_error(prog: str, message: str) -> int:
    """``PROG: error: MESSAGE`` on stderr; :data:`USAGE`."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return USAGE


def print_rendered(prog: str, load, render, path) -> int:
    """``render(load(path))`` on stdout, exit 0; a file ``load`` refuses (``ValueError``) is a usage
    error naming it (the experiments' ``report`` subcommands)."""
    try:
        records = load(path)
    except ValueError as exc:
        return usage_error(prog, str(exc))
    print(render(records))
    return 0
