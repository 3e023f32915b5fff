"""The `websessions` command line: the parser built from the command groups, dispatch and exit codes.

Each module of :mod:`websessions.commands` registers its commands with ``add_parsers(sub)``; heavy modules
(engines, clients) are imported inside each command so ``websessions --help`` is fast. A failure the user can
act on (a service unreachable, a stack service failing) is one line on stderr with its exit code
(:mod:`websessions.commands.exit_codes`), never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys

from websessions.commands import alerts, analytics, db, exit_codes, ingest, layers, reference, serving, stack, views

#: The command groups, in the order ``--help`` lists their commands.
COMMAND_GROUPS = (stack, db, ingest, layers, serving, analytics, alerts, views, reference)


def build_parser() -> argparse.ArgumentParser:
    """The ``websessions`` parser: every group's commands, the exit codes in the epilog."""
    parser = argparse.ArgumentParser(
        prog="websessions",
        description="Web-traffic sessionization: ingest, the speed and batch layers, reports, the local stack.",
        epilog=exit_codes.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the command, and map the failures the user can act on to one line and an exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except Exception as exc:
        from websessions.commands.failures import one_line
        from websessions.settings import get_settings

        failure = one_line(exc, get_settings())
        if failure is None:
            raise  # a bug: the traceback is the report
        code, line = failure
        print(line, file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
