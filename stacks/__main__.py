"""``python -m stacks plan|preflight|smoke|bench``: parse the arguments, run one command's module.

Nothing imports this module: each command is its own module (stacks/plan.py, stacks/preflight.py,
stacks/smoke.py) with ``add_parser(commands)`` and ``command(args, root) -> exit code``; what they
share is in stacks/common.py. preflight and smoke load their SDKs (Azure, Hugging Face, OpenAI)
only when they run.
"""

from __future__ import annotations

import argparse
import sys

from . import bench, plan, preflight, smoke
from .common import ROOT, close_event_loop

COMMANDS = {"plan": plan, "preflight": preflight, "smoke": smoke, "bench": bench}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks",
                                     description="apertus-azure: plan a stack offline, check a subscription "
                                                 "before pulumi up, test the endpoint after it")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(commands)
    args = parser.parse_args(argv)
    return COMMANDS[args.command].command(args, ROOT)


if __name__ == "__main__":
    try:
        exit_code = main()
    except BrokenPipeError:  # `python -m stacks plan | head`: the reader left; no traceback
        sys.stderr.close()
        exit_code = 0
    finally:
        close_event_loop()
    sys.exit(exit_code)
