"""`qwentui`: the TUI by default, `qwentui --demo` on the built-in simulator, and headless subcommands.

Every user error ends as one line `qwentui: error: ...` on stderr and a non-zero exit code, never a traceback.
A reader that stops early (`qwentui jobs | head -1`) ends the command quietly, as it does any Unix tool.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from qwentui.cli import (
    actions,
    assemble,
    batch,
    drop,
    export,
    extend,
    jobs,
    lineage,
    models,
    rate,
    run,
    sim,
    submit,
    usage,
)
from qwentui.cli.context import add_common_options, options
from qwentui.cli.output import safe
from qwentui.core.errors import QwentuiError
from qwentui.core.requests import InvalidRequest
from qwentui.runtime.demo import prepare_demo

SIGPIPE_EXIT = 128 + 13  # what a shell reports for a tool ended by SIGPIPE (`yes | head -1`)


def package_version() -> str:
    try:
        return version("qwentui")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwentui", description="A terminal job manager for QwenCloud / DashScope image and video generation."
    )
    parser.add_argument("--version", action="version", version=f"qwentui {package_version()}")
    add_common_options(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    submit.add_parser(sub)
    jobs.add_parser(sub)
    actions.add_parser(sub)
    run.add_parser(sub)
    drop.add_parser(sub)
    sim.add_parser(sub)
    rate.add_parser(sub)
    export.add_parser(sub)
    extend.add_parser(sub)
    assemble.add_parser(sub)
    lineage.add_parser(sub)
    batch.add_parser(sub)
    usage.add_parser(sub)
    models.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.reset and not args.demo:
        parser.error("--reset starts the demo over: use it with --demo")
    func = getattr(args, "func", None)
    try:
        if func is None:
            return _tui(args)
        if args.demo:
            prepare_demo(options(args))
        result = func(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        sys.stdout.flush()  # inside the try: a reader gone at the final flush is a broken pipe too
        return int(result or 0)
    except BrokenPipeError:
        # The reader stopped reading. Point stdout at /dev/null so the interpreter's own flush at exit stays
        # quiet, and end as a tool killed by SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return SIGPIPE_EXIT
    except InvalidRequest as exc:
        print("qwentui: error: the request cannot be sent:", file=sys.stderr)
        for problem in exc.problems:
            print(safe(f"  - {problem}"), file=sys.stderr)
        return 2
    except QwentuiError as exc:
        print(safe(f"qwentui: error: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _tui(args: argparse.Namespace) -> int:
    from qwentui.tui.launch import launch  # Textual is imported only when the TUI really starts

    return launch(options(args))


if __name__ == "__main__":
    sys.exit(main())
