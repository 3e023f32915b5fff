"""EDGAR mode: the challenge's public test byte for byte, its edge cases, and a naive oracle."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

import pytest

from websessions.cli import main
from websessions.edgar import EdgarError, sessionize_lines

# The challenge's public test (a copy of the peer test, tests/vectors/edgar/README.md)
PEER_TEST = Path(__file__).resolve().parent.parent / "vectors" / "edgar" / "test_1"


def _run(log: str, period: int) -> tuple[str, object]:
    out = io.BytesIO()
    stats = sessionize_lines(io.BytesIO(log.encode()), period, out)
    return out.getvalue().decode(), stats


def _log(rows: list[tuple[str, str]], header: str = "ip,date,time,cik") -> str:
    """``rows`` of (ip, 'YYYY-MM-DD HH:MM:SS') as a log with the given header (columns by name)."""
    names = header.split(",")
    lines = [header]
    for ip, stamp in rows:
        day, clock = stamp.split()
        values = {"ip": ip, "date": day, "time": clock}
        lines.append(",".join(values.get(name, "1.0") for name in names))
    return "\n".join(lines) + "\n"


def _cli(tmp_path: Path, log: str | bytes, period: int | str) -> tuple[int, bytes]:
    log_path, period_path, out_path = tmp_path / "log.csv", tmp_path / "inactivity_period.txt", tmp_path / "s.txt"
    log_path.write_bytes(log if isinstance(log, bytes) else log.encode())
    period_path.write_text(f"{period}\n")
    code = main(["edgar", "--log", str(log_path), "--inactivity", str(period_path), "--out", str(out_path)])
    return code, out_path.read_bytes() if out_path.exists() else b""


def test_public_challenge_test_is_reproduced_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "sessionization.txt"
    code = main(
        [
            "edgar",
            "--log", str(PEER_TEST / "input" / "log.csv"),
            "--inactivity", str(PEER_TEST / "input" / "inactivity_period.txt"),
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    assert out.read_bytes() == (PEER_TEST / "output" / "sessionization.txt").read_bytes()


def test_shuffled_header_gives_the_same_output(tmp_path: Path) -> None:
    lines = (PEER_TEST / "input" / "log.csv").read_text().splitlines()
    rows = [line.split(",") for line in lines]
    order = [5, 2, 14, 0, 7, 1, 3, 4, 6, 8, 9, 10, 11, 12, 13]
    shuffled = "\n".join(",".join(row[i] for i in order) for row in rows) + "\n"
    code, out = _cli(tmp_path, shuffled, 2)
    assert code == 0
    assert out == (PEER_TEST / "output" / "sessionization.txt").read_bytes()


def test_sessions_expiring_together_are_ordered_by_last_request_then_first_request() -> None:
    log = _log(
        [
            ("a", "2017-06-30 00:00:00"),
            ("b", "2017-06-30 00:00:00"),
            ("c", "2017-06-30 00:00:01"),
            ("a", "2017-06-30 00:00:01"),
            ("d", "2017-06-30 00:00:01"),
            ("b", "2017-06-30 00:00:02"),
            ("e", "2017-06-30 00:00:10"),  # the clock jumps several periods: a, b, c, d all end now
        ]
    )
    out, _ = _run(log, 2)
    assert out == (
        "a,2017-06-30 00:00:00,2017-06-30 00:00:01,2,2\n"
        "c,2017-06-30 00:00:01,2017-06-30 00:00:01,1,1\n"
        "d,2017-06-30 00:00:01,2017-06-30 00:00:01,1,1\n"
        "b,2017-06-30 00:00:00,2017-06-30 00:00:02,3,2\n"
        "e,2017-06-30 00:00:10,2017-06-30 00:00:10,1,1\n"
    )


def test_gap_equal_to_the_period_continues_and_one_more_second_ends() -> None:
    log = _log(
        [
            ("a", "2017-06-30 00:00:00"),
            ("b", "2017-06-30 00:00:00"),
            ("a", "2017-06-30 00:00:01"),  # gap 1 = period: same session
            ("b", "2017-06-30 00:00:02"),  # gap 2 > period: b's first session ended at 00:00:02
            ("a", "2017-06-30 00:00:03"),  # a (last 1) ended at 00:00:03
        ]
    )
    out, _ = _run(log, 1)
    assert out == (
        "b,2017-06-30 00:00:00,2017-06-30 00:00:00,1,1\n"
        "a,2017-06-30 00:00:00,2017-06-30 00:00:01,2,2\n"
        "b,2017-06-30 00:00:02,2017-06-30 00:00:02,1,1\n"
        "a,2017-06-30 00:00:03,2017-06-30 00:00:03,1,1\n"
    )


def test_period_of_a_day_spans_dates() -> None:
    log = _log(
        [
            ("a", "2017-06-30 00:00:00"),
            ("a", "2017-07-01 00:00:00"),  # gap 86400: same session
            ("b", "2017-07-02 00:00:00"),
            ("a", "2017-07-02 00:00:01"),  # gap 86401: new session
        ]
    )
    out, stats = _run(log, 86_400)
    assert out == (
        "a,2017-06-30 00:00:00,2017-07-01 00:00:00,86401,2\n"
        "b,2017-07-02 00:00:00,2017-07-02 00:00:00,1,1\n"
        "a,2017-07-02 00:00:01,2017-07-02 00:00:01,1,1\n"
    )
    assert (stats.requests, stats.sessions) == (4, 3)


def test_end_of_file_writes_open_sessions_in_first_request_order() -> None:
    log = _log([("z", "2017-06-30 00:00:00"), ("y", "2017-06-30 00:00:01"), ("z", "2017-06-30 00:00:02")])
    out, _ = _run(log, 10)
    assert out.splitlines() == [
        "z,2017-06-30 00:00:00,2017-06-30 00:00:02,3,2",
        "y,2017-06-30 00:00:01,2017-06-30 00:00:01,1,1",
    ]


def test_blank_and_malformed_lines_are_skipped_and_counted(tmp_path: Path, capsys) -> None:
    log = (
        "ip,date,time,cik\n"
        "a,2017-06-30,00:00:00,1\n"
        "\n"
        "b,2017-06-30\n"
        "c,2017-13-01,00:00:00,1\n"
        "d,2017-06-30,25:00:00,1\n"
        ",2017-06-30,00:00:01,1\n"
        "   \n"
        "a,2017-06-30,00:00:02,1\n"
    )
    code, out = _cli(tmp_path, log, 2)
    assert code == 0
    assert out == b"a,2017-06-30 00:00:00,2017-06-30 00:00:02,3,2\n"
    err = capsys.readouterr().err
    assert "2 blank" in err and "4 malformed" in err and "line 4" in err


def test_crlf_lines_with_time_in_the_last_column() -> None:
    log = "ip,date,time\r\na,2017-06-30,00:00:00\r\na,2017-06-30,00:00:05\r\n"
    out, stats = _run(log, 5)
    assert out == "a,2017-06-30 00:00:00,2017-06-30 00:00:05,6,2\n"
    assert stats.malformed == 0


def test_a_line_earlier_than_the_clock_is_taken_at_the_clock() -> None:
    log = _log([("a", "2017-06-30 00:00:05"), ("b", "2017-06-30 00:00:03"), ("a", "2017-06-30 00:00:06")])
    out, stats = _run(log, 2)
    assert stats.out_of_order == 1
    assert out.splitlines() == [
        "a,2017-06-30 00:00:05,2017-06-30 00:00:06,2,2",
        "b,2017-06-30 00:00:05,2017-06-30 00:00:05,1,1",
    ]


def test_header_without_a_needed_column_is_an_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(EdgarError):
        _run("ip,date,zone\na,2017-06-30,0\n", 2)
    code, _ = _cli(tmp_path, "ip,date,zone\n", 2)
    assert code == 2
    assert "time" in capsys.readouterr().err
    code, _ = _cli(tmp_path, "ip,date,time\n", "soon")
    assert code == 2


def _naive(rows: list[tuple[str, int]], period: int) -> str:
    """An independent oracle: at each new second, scan every open session for the ended ones."""
    open_: dict[str, list[int]] = {}
    out, rank, clock = [], 0, None

    def line(ip: str, s: list[int]) -> str:
        f = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s[0]))
        g = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s[1]))
        return f"{ip},{f},{g},{s[1] - s[0] + 1},{s[2]}\n"

    for ip, t in rows:
        if clock is None or t > clock:
            ended = sorted((s[1], s[3], ip2) for ip2, s in open_.items() if s[1] + period < t)
            out.extend(line(ip2, open_.pop(ip2)) for _, _, ip2 in ended)
            clock = t
        if ip in open_:
            open_[ip][1] = t
            open_[ip][2] += 1
        else:
            open_[ip] = [t, t, 1, rank]
            rank += 1
    out.extend(line(ip, s) for ip, s in sorted(open_.items(), key=lambda kv: kv[1][3]))
    return "".join(out)


@pytest.mark.parametrize(("seed", "period"), [(1, 1), (2, 2), (3, 5), (4, 30), (5, 86_400)])
def test_matches_a_naive_oracle_on_random_logs(seed: int, period: int) -> None:
    rng = random.Random(seed)
    t = 1_498_780_800
    rows = []
    for _ in range(3_000):
        t += rng.choice([0, 0, 0, 1, 1, 2, 3, 7, 40, 100_000 * (period == 86_400)])
        rows.append((f"10.0.{rng.randrange(3)}.{rng.randrange(40)}", t))
    log = _log([(ip, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s))) for ip, s in rows])
    out, stats = _run(log, period)
    assert out == _naive(rows, period)
    assert stats.requests == 3_000
