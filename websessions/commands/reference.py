"""The session rule without services: ``sessionize`` (the reference sessionizer over a JSON-lines file) and
``edgar`` (the EDGAR challenge's sessionization, byte for byte)."""

from __future__ import annotations

import argparse
import sys

from websessions.commands import exit_codes


def _sessionize(args: argparse.Namespace) -> int:
    import json
    from collections import Counter

    from websessions.sessionizer import sessionize_jsonl
    from websessions.sessions import SessionRule
    from websessions.settings import load_settings

    rule = SessionRule.from_settings(load_settings(create_secrets=False))  # the rule needs no secrets
    reasons: Counter = Counter()

    def on_invalid(number: int, rejection) -> None:
        reasons[rejection.reason] += 1
        if sum(reasons.values()) <= 20:
            print(f"line {number}: {rejection.reason}: {rejection.message}", file=sys.stderr)

    columns = ("host", "ip", "start", "end", "duration_s", "events", "pages", "errors", "first_url")
    widths = (24, 39, 24, 24, 10, 6, 5, 6, 0)
    if args.format == "table":
        print(" ".join(f"{c:<{w}}" for c, w in zip(columns, widths, strict=True)).rstrip())
    stats: dict[str, int] = {}
    try:
        lines = open(args.file, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    with lines:
        for session in sessionize_jsonl(lines, rule, batch=args.batch, on_invalid=on_invalid, stats=stats):
            record = session.to_dict()
            if args.format == "jsonl":
                print(json.dumps(record, ensure_ascii=False))
            else:
                print(" ".join(f"{record[c]!s:<{w}}" for c, w in zip(columns, widths, strict=True)).rstrip())
    invalid = ", ".join(f"{reason}: {n}" for reason, n in reasons.most_common()) or "none"
    print(
        f"{stats['events_in']} events in {stats['sessions_out']} sessions; {stats['duplicates']} duplicates,"
        f" {stats['late']} late, {stats['invalid']} invalid lines ({invalid})",
        file=sys.stderr,
    )
    return exit_codes.OK


def _edgar(args: argparse.Namespace) -> int:
    from websessions.edgar import EdgarError, sessionize_file

    try:
        stats = sessionize_file(args.log, args.inactivity, args.out)
    except (EdgarError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    print(f"{args.out}: {stats.summary()}", file=sys.stderr)
    return exit_codes.OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``sessionize`` and ``edgar``."""
    sessionize = sub.add_parser("sessionize", help="sessions of a JSON-lines event file (the reference sessionizer)")
    sessionize.add_argument("file")
    sessionize.add_argument("--format", choices=["jsonl", "table"], default="jsonl")
    sessionize.add_argument("--batch", action="store_true", help="sort the whole file by time (no lateness)")
    sessionize.set_defaults(func=_sessionize)
    edgar = sub.add_parser("edgar", help="the EDGAR challenge's sessionization, byte for byte")
    edgar.add_argument("--log", required=True, help="log.csv")
    edgar.add_argument("--inactivity", required=True, help="inactivity_period.txt")
    edgar.add_argument("--out", required=True, help="sessionization.txt")
    edgar.set_defaults(func=_edgar)
