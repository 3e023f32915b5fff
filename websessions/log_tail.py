"""Access-log files into Kafka: a whole file once, or followed across rotation like a log agent.

**Line identity.** A line's ``event_id`` is ``<file id>:<byte offset>``, the file id being 16 hex digits
of sha1 of the file's first line (a content fingerprint, as log agents use, rather than the inode: an
inode is reused, and a renamed or copied-away generation keeps its first line). Reading a line again --
after a restart, from the rotated copy, from its ``.gz`` -- gives the same id, so the layers' event-id
dedupe counts it once; two identical requests in one second are two lines, so two events.

**Position.** ``--follow`` keeps ``{file id, inode, offset}`` in a state file under
``access_log_state_dir`` (one per followed path), written only after Kafka acknowledged every line
before the offset: a restart neither skips a line nor publishes one that was acknowledged and
committed (a crash between acknowledgement and commit republishes lines with their same ids).

**Rotation.** rename + create: the open file is read to its end and, once unwritten for
``access_log_rotate_grace_s``, left for the new file at the path. copytruncate: the fingerprint is
checked around every read, so a truncated (and maybe rewritten) file is noticed; what was not read yet
is read from the copy (a file beside it with the same fingerprint), then the path from offset 0. On
start the saved file is looked up by fingerprint at the path and beside it (``access.log.1``,
``access.log-20261207``, ``.gz``), read to its end, followed by the rotated generations modified since
(its modification time or later: timestamps are coarse, and a generation read twice repeats ids, where
one skipped would lose lines), then the path. A new file's start is committed only once it has a first
line (an identity); until then the saved position stays the end of the previous file. Without a saved
position the file at the path is read from its start. Lines a copytruncate rotation writes between its
copy and its truncation are lost to every reader.
"""

from __future__ import annotations

import fcntl
import glob
import gzip
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from websessions.access_log import validate_line
from websessions.events import Rejection
from websessions.ingest import IngestError, IngestResult, KafkaPublisher
from websessions.settings import Settings

log = logging.getLogger(__name__)
CHUNK_BYTES = 1 << 20
FINGERPRINT_MAX_BYTES = 4096


def fingerprint(first_line: bytes) -> str:
    """The file id: sha1 of the first line (at most 4 KiB of it), 16 hex digits."""
    return hashlib.sha1(first_line[:FINGERPRINT_MAX_BYTES]).hexdigest()[:16]


def _first_line(read_at: Callable[[int, int], bytes]) -> bytes | None:
    head = read_at(FINGERPRINT_MAX_BYTES, 0)
    end = head.find(b"\n")
    if end >= 0:
        return head[: end + 1]
    return head if len(head) == FINGERPRINT_MAX_BYTES else None  # None: no complete first line yet


def file_id_of(path: str | Path) -> str | None:
    """The fingerprint of a file (plain or ``.gz``), or None while it has no complete first line."""
    try:
        with _open(path) as handle:
            first = _first_line(lambda n, _at: handle.read(n))
    except (OSError, EOFError):
        return None
    return None if first is None else fingerprint(first)


def _open(path: str | Path):
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def split_lines(block: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    """``(offset, line)`` of each line of ``block`` (which starts at ``offset``), without its newline."""
    start = 0
    find = block.find
    while start < len(block):
        end = find(b"\n", start)
        if end < 0:
            end = len(block)
        yield offset + start, block[start:end]
        start = end + 1


def whole_line_blocks(handle, offset: int) -> Iterator[tuple[int, bytes]]:
    """``(offset, block)`` of a finished file from ``offset``: blocks of whole lines, the last line even
    without its newline (the file is complete, so it is a line)."""
    handle.seek(offset)
    pending = b""
    while chunk := handle.read(CHUNK_BYTES):
        block = pending + chunk
        cut = block.rfind(b"\n") + 1
        if cut:
            yield offset, block[:cut]
            offset += cut
        pending = block[cut:]
    if pending:
        yield offset, pending


def publish_block(
    publisher: KafkaPublisher, block: bytes, offset: int, file_id: str, default_host: str | None
) -> tuple[int, int]:
    """Validate and produce the lines of ``block``: events and dead letters; returns (lines, blank)."""
    lines = blank = 0
    for at, raw in split_lines(block, offset):
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            blank += 1
            continue
        lines += 1
        outcome = validate_line(text, f"{file_id}:{at}", default_host)
        if isinstance(outcome, Rejection):
            publisher.publish_rejection(text, outcome)
        else:
            publisher.publish_event(outcome)
        if lines % 1000 == 0:
            publisher.producer.poll(0)
    return lines, blank


def _acknowledged(publisher: KafkaPublisher, timeout_s: float) -> None:
    """Wait until Kafka acknowledged everything produced; :class:`IngestError` otherwise."""
    remaining = publisher.producer.flush(timeout_s)
    if remaining or publisher.result.failed:
        cause = publisher.first_error() or f"{remaining} messages not acknowledged within {timeout_s:.0f}s"
        raise IngestError(f"kafka did not acknowledge the access log's lines: {cause}", publisher.result)


def ingest_log_file(
    settings: Settings, path: str | Path, default_host: str | None = None, progress: Callable[[int], None] | None = None
) -> IngestResult:
    """Publish a whole access-log file (plain or ``.gz``) once; returns when Kafka acknowledged it all."""
    timeout_s = settings.ingest_delivery_timeout_s
    publisher = KafkaPublisher(settings, delivery_timeout_s=timeout_s)
    publisher.check_reachable(min(timeout_s, 5.0))
    file_id = file_id_of(path) or fingerprint(b"")
    with _open(path) as handle:
        for offset, block in whole_line_blocks(handle, 0):
            lines, _ = publish_block(publisher, block, offset, file_id, default_host)
            if publisher.result.failed:
                _acknowledged(publisher, timeout_s)
            if progress is not None:
                progress(lines)
    return publisher.close(timeout_s + 5)


@dataclass
class Position:
    """Where a followed log stands: the file (fingerprint, inode) and the offset after the last committed line."""

    file_id: str | None
    inode: int
    offset: int


def state_path(settings: Settings, path: str | Path) -> Path:
    """The state file of a followed log path (one per absolute path)."""
    base = Path(settings.access_log_state_dir) if settings.access_log_state_dir else settings.data_dir / "access_log"
    key = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:16]
    return base / f"{Path(path).name}.{key}.json"


class AlreadyFollowed(RuntimeError):
    """Another follower holds the path's position (two would publish every line twice)."""


class LogFollower:
    """``ingest --format combined --follow``: tails ``path`` across rotations until ``stop`` is set.

    Every line becomes an event or a dead letter with its reason; the position is committed to the
    state file after each acknowledged block (see the module docstring).
    """

    def __init__(self, settings: Settings, path: str | Path, default_host: str | None = None):
        self.settings = settings
        self.path = Path(path)
        self.default_host = default_host
        self.state_file = state_path(settings, path)
        self.timeout_s = settings.ingest_delivery_timeout_s
        self.publisher = KafkaPublisher(settings, delivery_timeout_s=self.timeout_s)
        self.blank = 0
        self.rotations = 0

    # -- state -------------------------------------------------------------------------------------
    def load(self) -> Position | None:
        try:
            return Position(**json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return None

    def commit(self, position: Position) -> None:
        """Write the position atomically (a crash leaves the old or the new one, never half of one)."""
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        with open(tmp, "w") as out:
            json.dump(asdict(position), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.state_file)

    def _commit_known(self, position: Position) -> None:
        """Commit the start of a new file only once it has a first line (an identity): until then the
        saved position stays the end of the previous file, from which a restart finds every generation
        rotated after it (by fingerprint, then modification time)."""
        if position.file_id is not None:
            self.commit(position)

    # -- reading -----------------------------------------------------------------------------------
    def _publish(self, block: bytes, position: Position) -> None:
        """Publish a block of whole lines at ``position``, wait for Kafka, then commit the new offset."""
        _, blank = publish_block(self.publisher, block, position.offset, position.file_id, self.default_host)
        self.blank += blank
        _acknowledged(self.publisher, self.timeout_s)
        position.offset += len(block)
        self.commit(position)

    def _drain_copy(self, path: Path, position: Position) -> None:
        """Publish the rest of a rotated generation (plain or ``.gz``) from the position to its end."""
        start = position.offset
        with _open(path) as handle:
            for _, block in whole_line_blocks(handle, start):
                self._publish(block, position)
        log.info(
            "read the rotated %s (file %s) from offset %d to its end, %d",
            path,
            position.file_id,
            start,
            position.offset,
        )

    def _siblings(self) -> list[Path]:
        """Rotated generations beside the path (``access.log.1``, ``access.log-2026...``, ``.gz``), oldest first."""
        found = []
        for candidate in self.path.parent.glob(glob.escape(self.path.name) + "?*"):
            if candidate.is_file() and not candidate.name.endswith((".tmp", ".json", ".lock")):
                found.append((candidate.stat().st_mtime, candidate))
        return [p for _, p in sorted(found)]

    def _find(self, file_id: str, exclude_inode: int | None = None) -> Path | None:
        for candidate in reversed(self._siblings()):
            if candidate.stat().st_ino != exclude_inode and file_id_of(candidate) == file_id:
                return candidate
        return None

    def _resume(self) -> tuple[int, Position]:
        """Open the path and its position: the saved one, after finishing generations rotated meanwhile."""
        saved = self.load()
        fd = os.open(self.path, os.O_RDONLY)
        inode = os.fstat(fd).st_ino
        current = file_id_of(self.path)
        if saved is None or saved.file_id is None or saved.file_id == current:
            position = saved if saved is not None and saved.file_id == current else Position(current, inode, 0)
            position.inode = inode
            return fd, position
        rotated = self._find(saved.file_id)
        if rotated is None:
            log.warning(
                "the file %s of the saved position is gone; reading %s from its start", saved.file_id, self.path
            )
        else:
            self._drain_copy(rotated, saved)
            done = rotated.stat()
            for newer in self._siblings():  # generations rotated after it, while nobody followed
                newer_id, at = file_id_of(newer), newer.stat()
                # >=: timestamps are coarse (a few ms), a generation written right after may share one
                if (
                    at.st_mtime >= done.st_mtime
                    and at.st_ino != done.st_ino
                    and newer_id not in (None, saved.file_id, current)
                ):
                    self._drain_copy(newer, Position(newer_id, newer.stat().st_ino, 0))
        position = Position(current, inode, 0)
        self._commit_known(position)
        return fd, position

    def run(self, stop: threading.Event) -> IngestResult:
        """Follow until ``stop`` is set; returns the counts (``IngestError`` when Kafka fails,
        :class:`AlreadyFollowed` when another follower holds the path's position)."""
        with self._exclusive():
            self.publisher.check_reachable(min(self.timeout_s, 5.0))
            while not self.path.exists():
                if stop.wait(self.settings.access_log_poll_s):
                    return self.publisher.result
            fd, position = self._resume()
            try:
                while not stop.is_set():
                    fd, position, progressed = self._step(fd, position)
                    if not progressed:
                        stop.wait(self.settings.access_log_poll_s)
            finally:
                os.close(fd)
            return self.publisher.close(self.timeout_s + 5)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One follower per path: an exclusive lock beside the state file, released when the process ends."""
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_file.with_suffix(".lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AlreadyFollowed(f"{self.path} is already followed by another process ({lock.name})") from None
            yield

    def _same_file(self, fd: int, position: Position) -> bool:
        """False once the open file was truncated (its first line is no longer the one it had)."""
        first = _first_line(lambda n, at: os.pread(fd, n, at))
        if position.file_id is None:
            if first is not None:
                position.file_id = fingerprint(first)
            return True
        return first is not None and fingerprint(first) == position.file_id

    def _step(self, fd: int, position: Position) -> tuple[int, Position, bool]:
        """One read of the open file, or a rotation: the (maybe new) file, its position, whether anything moved."""
        if self._same_file(fd, position):
            data = os.pread(fd, CHUNK_BYTES, position.offset)
            cut = data.rfind(b"\n") + 1
            if not cut and len(data) == CHUNK_BYTES:
                cut = len(data)  # a line longer than a chunk: published in pieces, each dead-lettered
            if cut and self._same_file(fd, position):  # not truncated while we read
                self._publish(data[:cut], position)
                return fd, position, True
            if cut:
                return fd, position, False  # truncated during the read: the next step sees it
            return self._after_end(fd, position)
        return self._truncated(fd, position)

    def _truncated(self, fd: int, position: Position) -> tuple[int, Position, bool]:
        """copytruncate: finish the generation from its copy, then read the same file from its start."""
        copy = self._find(position.file_id, exclude_inode=position.inode)
        if copy is not None:
            self._drain_copy(copy, position)
        else:
            log.warning("%s was truncated and no copy of file %s is beside it", self.path, position.file_id)
        self.rotations += 1
        new = Position(None, position.inode, 0)
        self._same_file(fd, new)
        self._commit_known(new)
        return fd, new, True

    def _after_end(self, fd: int, position: Position) -> tuple[int, Position, bool]:
        """At the end of the open file: move to a new file at the path once the old one stays quiet."""
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            return fd, position, False  # renamed, the new one not created yet
        if at_path.st_ino == position.inode:
            return fd, position, False
        if time.time() - os.fstat(fd).st_mtime < self.settings.access_log_rotate_grace_s:
            return fd, position, False  # the server may still be writing to the renamed file
        rest = os.pread(fd, os.fstat(fd).st_size - position.offset, position.offset)
        if rest:  # a last line the server never finished: the file is done, so it is a line
            self._publish(rest, position)
        os.close(fd)
        fd = os.open(self.path, os.O_RDONLY)
        self.rotations += 1
        new = Position(None, os.fstat(fd).st_ino, 0)
        self._same_file(fd, new)
        self._commit_known(new)
        log.info("%s rotated: now reading inode %d", self.path, new.inode)
        return fd, new, True
