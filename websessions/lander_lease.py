"""One lander per topic: a lease in HDFS with a fencing token.

The lease is a directory of token files, ``<raw>_lander/lease/token-<n>``; the highest ``n`` is the current
lease and its content says who holds it and until when. A lander takes the lease by creating the next
token file with an exclusive create (HDFS refuses to create a file that exists, so of two landers racing
for the same token one fails), renews it while it runs and releases it when it stops.

Fencing: before each batch is renamed into place and committed, the lander checks that the highest
token is still its own (:meth:`LanderLease.check`). A lander that was paused past its lease's expiry and
replaced finds a higher token and stops without writing. The window between that check and the renames
is a few milliseconds; if a paused lander wakes inside it, its batch's files are named by the same
offsets as the new holder's and recovery removes a file whose offsets another file covers.

A lease expires ``lander_lease_ttl_s`` after its last renewal; on the same host, a lease whose process
is gone (a ``kill -9``) is taken at once, so a supervised restart does not wait for the expiry.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field

from hdfs.util import HdfsError

from websessions.raw_layout import lander_dir
from websessions.settings import Settings

log = logging.getLogger(__name__)


class LeaseHeld(RuntimeError):
    """Another lander holds the lease of this topic."""


class Fenced(RuntimeError):
    """This lander's lease was taken over by another: it must stop without writing."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class LanderLease:
    """The lease of ``settings.kafka_topic_events``'s lander (see the module docstring)."""

    settings: Settings
    fs: object
    ttl_s: float | None = None
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    token: int | None = None
    _renewed_at: float = 0.0

    def __post_init__(self) -> None:
        if self.ttl_s is None:
            self.ttl_s = float(self.settings.lander_lease_ttl_s)
        self.root = lander_dir(self.settings) + "/lease"

    def _path(self, token: int) -> str:
        return f"{self.root}/token-{token:012d}"

    def _tokens(self) -> list[int]:
        if self.fs.status(self.root, strict=False) is None:
            return []
        return sorted(int(name[6:]) for name in self.fs.list(self.root) if name.startswith("token-"))

    def holder(self) -> dict | None:
        """The current lease (its token and content), or None if no lander ever held one."""
        tokens = self._tokens()
        if not tokens:
            return None
        try:
            with self.fs.read(self._path(tokens[-1])) as reader:
                info = json.loads(reader.read() or b"{}")
        except Exception as exc:  # noqa: BLE001 - a half-written or vanished token: treat as expired
            log.warning("lease token %d unreadable (%s): treated as expired", tokens[-1], exc)
            info = {}
        return {**info, "token": tokens[-1]}

    @staticmethod
    def is_live(info: dict) -> bool:
        """True while the lease has not expired and (on this host) its process is still running."""
        if info.get("expires_at", 0) <= time.time():
            return False
        return not (info.get("host") == socket.gethostname() and not _pid_alive(int(info.get("pid", 0))))

    def _content(self, expires_at: float) -> bytes:
        host, pid, _ = self.owner.split(":")
        return json.dumps(
            {"owner": self.owner, "host": host, "pid": int(pid), "expires_at": expires_at, "renewed_at": time.time()}
        ).encode()

    def acquire(self) -> int:
        """Take the lease or raise :class:`LeaseHeld` naming the holder; returns the fencing token."""
        current = self.holder()
        if current is not None and self.is_live(current) and current.get("owner") != self.owner:
            until = time.strftime("%H:%M:%S", time.localtime(current["expires_at"]))
            raise LeaseHeld(
                f"another lander (pid {current.get('pid')} on {current.get('host')}) holds the lease of topic "
                f"{self.settings.kafka_topic_events} (token {current['token']}, until {until} unless renewed); "
                "stop it first (websessions land stop) — two landers must never land one topic"
            )
        token = (current["token"] if current else 0) + 1
        self.fs.makedirs(self.root)
        try:
            self.fs.write(self._path(token), data=self._content(time.time() + self.ttl_s), overwrite=False)
        except HdfsError as exc:  # the token file exists: another lander took it first
            raise LeaseHeld(
                f"another lander took the lease of {self.settings.kafka_topic_events} first ({exc})"
            ) from exc
        self.token = token
        self._renewed_at = time.monotonic()
        self.check()
        for old in self._tokens():
            if old < token:
                self.fs.delete(self._path(old))
        log.info("lander lease taken: token %d (ttl %.0fs)", token, self.ttl_s)
        return token

    def check(self) -> None:
        """Raise :class:`Fenced` unless this lander's token is still the highest."""
        tokens = self._tokens()
        if not tokens or tokens[-1] != self.token:
            raise Fenced(
                f"the lease of {self.settings.kafka_topic_events} was taken over (token {tokens[-1] if tokens else '-'}"
                f" > ours {self.token}): this lander stops without writing"
            )

    def keep(self) -> None:
        """Check the fence; renew the lease when a third of its time has passed."""
        self.check()
        if time.monotonic() - self._renewed_at >= self.ttl_s / 3:
            self.fs.write(self._path(self.token), data=self._content(time.time() + self.ttl_s), overwrite=True)
            self._renewed_at = time.monotonic()

    def release(self) -> None:
        """Let the lease expire now (the token stays: tokens only ever grow)."""
        if self.token is None:
            return
        try:
            self.check()
            self.fs.write(self._path(self.token), data=self._content(0.0), overwrite=True)
        except Fenced:
            pass
        self.token = None
