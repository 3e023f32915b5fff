"""Access logs into the real Kafka: a whole file through the CLI, and ``--follow`` across rotations
(rename + create with a server still writing the renamed file, copytruncate, and a rotation while the
follower was stopped) losing and duplicating nothing. Private topics; bounded in lines and time."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from tests.integration.datasets import kafka_topics, private_settings, wait_for
from websessions.audit import scan_topic
from websessions.log_tail import AlreadyFollowed, LogFollower
from websessions.settings import Settings
from websessions.simulator import generate_day
from websessions.simulator.access_log import combined_lines

pytestmark = pytest.mark.integration


@pytest.fixture
def private(stack, tmp_path) -> Settings:
    base = private_settings(stack("kafka"), "accesslog", "kafka_topic_events", "kafka_topic_dlq")
    settings = dataclasses.replace(
        base, access_log_state_dir=str(tmp_path / "state"), access_log_poll_s=0.05, access_log_rotate_grace_s=0.5
    )
    with kafka_topics(settings, settings.kafka_topic_events, settings.kafka_topic_dlq):
        yield settings


def _published(settings: Settings) -> tuple[Counter, Counter]:
    """(url, event id) of every event in the topic; (reason, raw line) of every dead letter."""
    events = scan_topic(
        settings, settings.kafka_topic_events, lambda v: (json.loads(v)["url"], json.loads(v)["event_id"])
    )
    dead = scan_topic(settings, settings.kafka_topic_dlq, lambda v: (json.loads(v)["reason"], json.loads(v)["raw"]))
    return events, dead


class Server:
    """Writes access-log lines the way a web server does: appending through its open file."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = open(path, "a")  # noqa: SIM115 - open for the server's lifetime, like a web server's log
        self.urls: list[str] = []
        self.malformed: list[str] = []

    def write(self, n: int) -> None:
        # A batch starts in a later tick of the kernel's coarse file clock than what came before, as lines
        # after a rotation do in life (a restart orders rotated generations by modification time).
        time.sleep(0.02)
        for _ in range(n):
            i = len(self.urls) + len(self.malformed)
            if i % 40 == 39:
                line = f"a line cut off mid-write {i}"
                self.malformed.append(line)
            else:
                stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
                line = f'198.51.100.{i % 200 + 1} - - [{stamp}] "GET /page/{i} HTTP/1.1" 200 {i} "-" "curl/8.5"'
                self.urls.append(f"/page/{i}")
            self.handle.write(line + "\n")
            self.handle.flush()

    def reopen(self) -> None:
        """The server's reopen after a rename (nginx's USR1): new lines go to the new file at the path."""
        self.handle.close()
        self.handle = open(self.path, "a")  # noqa: SIM115 - see __init__


def _shift(path: Path) -> None:
    """Rotated generations move up one: access.log.2 -> .3, .1 -> .2."""
    for n in (3, 2, 1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.rename(path.with_name(f"{path.name}.{n + 1}"))


class Following:
    """A :class:`LogFollower` in a thread, stopped like ``--follow`` on SIGTERM."""

    def __init__(self, settings: Settings, path: Path):
        self.follower = LogFollower(settings, path, "www.dataexpert.io")
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.follower.run(self.stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread by finish()
            self.error = exc

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the follower did not stop"
        if self.error is not None:
            raise self.error


def _all_published(settings: Settings, server: Server, timeout_s: float = 60.0) -> None:
    expected = len(server.urls) + len(server.malformed)

    def published() -> int:
        try:
            events, dead = _published(settings)
        except KafkaException:  # a topic just created has no leader yet for a moment
            return 0
        return sum(events.values()) + sum(dead.values())

    wait_for(f"{expected} lines in Kafka", lambda: published() >= expected, timeout_s)


def test_follow_across_rotations_and_a_restart_loses_and_duplicates_nothing(private: Settings, tmp_path) -> None:
    path = tmp_path / "access.log"
    server = Server(path)
    server.write(150)
    private = dataclasses.replace(private, access_log_poll_s=1.0)  # long sleeps: rotations between two polls
    following = Following(private, path)
    _all_published(private, server)
    with pytest.raises(AlreadyFollowed):  # a second follower of the path would publish every line again
        LogFollower(private, path, "www.dataexpert.io").run(threading.Event())

    # rename + create: the server keeps writing the renamed file until it reopens
    path.rename(path.with_name("access.log.1"))
    server.write(30)
    server.reopen()
    server.write(150)
    _all_published(private, server)

    # copytruncate (no line written between the copy and the truncation: that window loses lines for any
    # reader), with lines the follower, asleep between polls, has not read yet: they come from the copy
    server.write(50)
    _shift(path)
    shutil.copyfile(path, path.with_name("access.log.1"))
    os.truncate(path, 0)
    server.write(150)
    _all_published(private, server)
    # a rename just before the stop: the position saved is that of the new, still empty file
    _shift(path)
    path.rename(path.with_name("access.log.1"))
    server.reopen()
    wait_for("the follower on the new file", lambda: following.follower.rotations == 3, 30)
    following.finish()

    # while nobody follows: unread lines, a copytruncate, more lines, a rename; then a restart from the
    # saved position reads the copy from there, the renamed generation, and the new file
    server.write(100)
    _shift(path)
    shutil.copyfile(path, path.with_name("access.log.1"))
    os.truncate(path, 0)
    server.write(50)
    _shift(path)
    path.rename(path.with_name("access.log.1"))
    server.reopen()
    server.write(100)
    restarted = Following(private, path)
    _all_published(private, server)
    time.sleep(1.0)  # anything published twice would be there by now
    restarted.finish()

    events, dead = _published(private)
    urls = Counter(url for url, _ in events.elements())
    assert sorted(urls) == sorted(server.urls) and set(urls.values()) == {1}, "every line exactly once"
    assert len({event_id for _, event_id in events}) == len(server.urls), "one id per line"
    assert sorted(raw for _, raw in dead) == sorted(server.malformed)
    assert {reason for reason, _ in dead} == {"malformed_line"}


def test_ingest_format_combined_publishes_every_line_of_a_file(private: Settings, tmp_path) -> None:
    log = tmp_path / "sample.log"
    lines = list(combined_lines(generate_day("2026-11-20", 2000, seed=8), vhost=True))
    log.write_text("\n".join(lines) + "\n")
    env = {**os.environ, **private.as_env()}
    done = subprocess.run(
        [sys.executable, "-m", "websessions.cli", "ingest", "--format", "combined", str(log)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    events, dead = _published(private)
    assert sum(events.values()) + sum(dead.values()) == len(lines)
    assert f"accepted {sum(events.values())}, dead-lettered {sum(dead.values())}" in done.stdout
    assert 0 < sum(dead.values()) < 20 and len({event_id for _, event_id in events}) == sum(events.values())


def test_follow_killed_and_restarted_loses_nothing_and_repeats_lines_only_under_their_ids(
    private: Settings, tmp_path
) -> None:
    """The CLI itself: kill -9 while lines arrive (a crash between Kafka's acknowledgement and the commit
    publishes lines again, under their same ids: one event for the layers' dedupe), restart, a rotation,
    then SIGTERM: a clean stop with the counts."""
    path = tmp_path / "access.log"
    server = Server(path)
    env = {**os.environ, **private.as_env()}
    command = [sys.executable, "-m", "websessions.cli", "ingest", "--format", "combined", "--follow", str(path)]
    command += ["--host", "www.dataexpert.io"]
    state = LogFollower(private, path).state_file
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    try:
        server.write(100)
        wait_for("the first follower's committed position", state.exists, 60)
        for _ in range(20):  # killed while lines keep arriving
            server.write(20)
            time.sleep(0.02)
        first.kill()
        first.wait(10)
        server.write(100)
        second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        server.write(50)
        _all_published(private, server)
        _shift(path)
        path.rename(path.with_name("access.log.1"))
        server.write(20)  # still into the renamed file
        server.reopen()
        server.write(100)
        _all_published(private, server)
        second.terminate()
        out, err = second.communicate(timeout=30)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert second.returncode == 0, err
    assert "accepted" in out and "1 rotations" in out
    events, dead = _published(private)
    ids_of_url: dict[str, set[str]] = {}
    for url, event_id in events:
        ids_of_url.setdefault(url, set()).add(event_id)
    assert sorted(ids_of_url) == sorted(server.urls), "no line lost"
    assert all(len(ids) == 1 for ids in ids_of_url.values()), "a line published again keeps its id"
    assert sorted(set(raw for _, raw in dead)) == sorted(server.malformed)
