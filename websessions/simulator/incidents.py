"""Incidents injected into simulated traffic: ``websessions generate --incident KIND --host H --at T``.

An :class:`Incident` changes the lines of one host whose event time lies in ``[start, start + duration)``:

- ``error-burst``: a share (``error_share``, 0.5 by default) of its events answer 500 (``status``);
- ``drop``: only ``1 - drop_share`` of its events remain (an 80 % drop by default);
- ``silence``: none of its events remain.

Which events are hit is decided by a hash of the event id and the incident, so the result is
deterministic; other hosts, other times and lines that are not valid JSON pass unchanged (malformed
lines stay malformed). Standard library only, like the rest of the simulator.
"""

from __future__ import annotations

import hashlib
import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

ERROR_BURST, DROP, SILENCE = "error-burst", "drop", "silence"
INCIDENT_KINDS = (ERROR_BURST, DROP, SILENCE)
# What the detector (websessions.anomalies) calls the alert each incident should raise.
ALERT_KIND = {ERROR_BURST: "error_rate", DROP: "drop", SILENCE: "silence"}
_TIME_RE = re.compile(r'"event_time":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"')


@dataclass(frozen=True)
class Incident:
    kind: str
    host: str
    start_ms: int
    duration_s: float = 600.0
    error_share: float = 0.5
    drop_share: float = 0.8

    def __post_init__(self) -> None:
        if self.kind not in INCIDENT_KINDS:
            raise ValueError(f"incident {self.kind!r} is not one of {', '.join(INCIDENT_KINDS)}")
        if self.duration_s <= 0 or not 0 < self.error_share <= 1 or not 0 < self.drop_share <= 1:
            raise ValueError("an incident needs a positive duration and shares in (0, 1]")

    @property
    def end_ms(self) -> int:
        return self.start_ms + int(self.duration_s * 1000)

    def _hit(self, event_id: str, share: float) -> bool:
        digest = hashlib.blake2b(f"{self.kind}|{self.host}|{self.start_ms}|{event_id}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big") < share * 2**64

    def apply(self, line: str) -> str | None:
        """The line as the incident leaves it (``None``: removed)."""
        if f'"{self.host}"' not in line:  # cheap pre-check: most lines are of other hosts
            return line
        match = _TIME_RE.search(line)
        if match is None:
            return line
        t = _time_ms(match.group(1))
        if t is None or not self.start_ms <= t < self.end_ms:
            return line
        try:
            record = json.loads(line)
        except ValueError:
            return line
        if not isinstance(record, dict) or record.get("host") != self.host:
            return line
        event_id = str(record.get("event_id", line))
        if self.kind == SILENCE or (self.kind == DROP and self._hit(event_id, self.drop_share)):
            return None
        if self.kind == ERROR_BURST and self._hit(event_id, self.error_share):
            record["status"] = 500
            return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        return line


_minute_base: dict[str, int | None] = {}


def _time_ms(text: str) -> int | None:
    """Epoch ms of a canonical event time (``None`` if it is no real time: the line is malformed)."""
    base = _minute_base.get(text[:16], -1)
    if base == -1:
        try:
            moment = datetime.strptime(text[:16], "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
            base = int(moment.timestamp()) * 1000
        except ValueError:
            base = None
        if len(_minute_base) > 100_000:
            _minute_base.clear()
        _minute_base[text[:16]] = base
    seconds, millis = text[17:19], text[20:23]
    if base is None or not (seconds.isdigit() and millis.isdigit() and seconds < "60"):
        return None
    return base + int(seconds) * 1000 + int(millis)


def inject(lines: Iterable[str], incidents: Iterable[Incident]) -> Iterator[str]:
    """``lines`` with every incident applied (overlapping ones in the given order)."""
    incidents = sorted(incidents, key=lambda i: i.start_ms)
    if not incidents:
        yield from lines
        return
    starts = [i.start_ms for i in incidents]
    longest = max(i.end_ms - i.start_ms for i in incidents)
    search = _TIME_RE.search
    for line in lines:
        match = search(line)
        t = _time_ms(match.group(1)) if match else None
        if t is not None and starts[0] <= t:
            index = bisect_right(starts, t) - 1
            while index >= 0 and starts[index] > t - longest and line is not None:
                incident = incidents[index]
                if t < incident.end_ms:
                    line = incident.apply(line)
                index -= 1
        if line is not None:
            yield line


def parse_at(text: str, day: date | None = None) -> int:
    """``--at``: ``YYYY-MM-DDTHH:MM[:SS][Z]`` (UTC), or ``HH:MM[:SS]`` on ``day`` (today if none): epoch ms."""
    text = text.strip().removesuffix("Z")
    try:
        if "T" in text:
            moment = datetime.fromisoformat(text)
        else:
            clock = datetime.strptime(text, "%H:%M:%S" if text.count(":") == 2 else "%H:%M").time()
            moment = datetime.combine(day or datetime.now(UTC).date(), clock)
    except ValueError as exc:
        raise ValueError(f"--at {text!r} is not a time like 2026-12-07T14:30 or 14:30 (UTC)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
