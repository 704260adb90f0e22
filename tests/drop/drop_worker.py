"""A stand-in for `qwentui run` with drop folders: the CLI context, the engine, and `start_drop_service`.

Run as a subprocess by test_kill.py (which SIGKILLs it): `python drop_worker.py --db DB --output OUT
--base-url URL`, with QWEN_API_KEY, QWENTUI_DROP and QWENTUI_SETTINGS in the environment. It runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

from qwentui.cli import build_parser
from qwentui.cli.context import options
from qwentui.runtime import open_context, start_drop_service


async def main(argv: list[str]) -> None:
    args = build_parser().parse_args([*argv, "jobs"])  # any subcommand: only the common options matter
    async with open_context(options(args)) as ctx:
        service = await start_drop_service(ctx, echo=True)
        assert service is not None
        print("worker up", file=sys.stderr, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
