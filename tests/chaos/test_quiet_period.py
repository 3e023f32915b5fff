"""A quiet period longer than every server's idle-connection timeout, then traffic again: the speed layer
and the lander take the new events on the connections they reopen themselves — no restart.

The servers' timeouts are read from the running servers (Kafka's ``connections.max.idle.ms``, the HBase
Thrift server's ``hbase.thrift.server.socket.read.timeout``, the WebHDFS server's
``hadoop.http.idle_timeout.ms``); the stack sets all three to 30 s (settings ``*_idle_*``), so the quiet
period is about 35 s. Idle probe sockets opened at its start prove the servers really closed idle
connections during it. The speed layer writes HBase from the job's JVM (HBase's own client, not Thrift):
its sink flushes again after the quiet period, in the same job.
"""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator

import pytest
import requests
from confluent_kafka.admin import ConfigResource, ResourceType

from tests.chaos.ledger import check
from tests.chaos.pipeline import (
    lander_job,
    lander_stats,
    live_lines,
    private_pipeline,
    record,
    reference_sessions,
    speed_job,
    speed_sessions,
    speed_stats,
    wait_all_landed,
    wait_for,
)
from websessions.clients import kafka
from websessions.ingest import KafkaPublisher
from websessions.settings import Settings

#: The HBase Thrift server's own default when the key is not configured.
THRIFT_READ_TIMEOUT_DEFAULT_MS = 60_000
#: A quiet period longer than this means the running stack predates the stack's short idle timeouts.
QUIET_MAX_S = 75.0


@pytest.fixture
def pipeline(stack) -> Iterator[Settings]:
    with private_pipeline(stack("kafka", "hdfs", "hbase"), "quiet") as settings:
        yield settings


def _conf_value(url: str, name: str) -> str | None:
    """A property of a Hadoop-style server's effective configuration (its ``/conf`` page)."""
    response = requests.get(f"{url}/conf", timeout=10)
    response.raise_for_status()
    for prop in ElementTree.fromstring(response.content).iter("property"):
        if prop.findtext("name") == name:
            return prop.findtext("value")
    return None


def server_idle_timeouts_s(settings: Settings) -> dict[str, float]:
    """How long each server lets a client connection idle before it closes it, asked from the server."""
    admin = kafka.admin(settings)
    broker = ConfigResource(ResourceType.BROKER, str(next(iter(admin.list_topics(timeout=10).brokers))))
    kafka_ms = admin.describe_configs([broker])[broker].result()["connections.max.idle.ms"].value
    info = f"http://{settings.hbase_host}:{settings.hbase_thrift_info_port}"
    thrift_ms = _conf_value(info, "hbase.thrift.server.socket.read.timeout") or THRIFT_READ_TIMEOUT_DEFAULT_MS
    hdfs_ms = _conf_value(settings.webhdfs_url, "hadoop.http.idle_timeout.ms")
    return {"kafka": int(kafka_ms) / 1000, "hbase-thrift": int(thrift_ms) / 1000, "webhdfs": int(hdfs_ms) / 1000}


def idle_probes(settings: Settings) -> dict[str, socket.socket]:
    """One connection to each server that never sends anything."""
    addresses = {
        "kafka": (settings.kafka_host, settings.kafka_port),
        "hbase-thrift": (settings.hbase_host, settings.hbase_thrift_port),
        "webhdfs": (settings.hdfs_host, settings.hdfs_http_port),
    }
    return {name: socket.create_connection(address, timeout=5) for name, address in addresses.items()}


def closed_by_server(probe: socket.socket, grace_s: float) -> bool:
    """True once the server closed the idle probe, waiting up to ``grace_s`` more for it (a server checks
    its connections' idle time periodically, not at the exact millisecond)."""
    probe.settimeout(grace_s)
    try:
        return probe.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        probe.close()


def test_after_a_quiet_period_past_every_idle_timeout_the_speed_layer_and_lander_take_new_events(pipeline, reliability):
    settings = pipeline
    timeouts = server_idle_timeouts_s(settings)
    quiet_s = max(timeouts.values()) + 5
    assert quiet_s <= QUIET_MAX_S, (
        f"the running servers close idle connections after {timeouts} s, longer than the stack's defaults"
        " (settings kafka_connections_max_idle_ms, hbase_thrift_idle_timeout_ms, hdfs_http_idle_timeout_ms):"
        " the stack was started before them; restart it (websessions stack down && websessions stack up)"
    )
    speed, lander = speed_job(settings), lander_job(settings)
    speed.start()
    lander.start()
    # One long-lived producer across the quiet period, as the collector holds one.
    publisher = KafkaPublisher(settings)
    try:
        before = live_lines(2000, "before")
        for line in before:
            publisher.publish(line)
        assert publisher.producer.flush(30) == 0
        wait_for("the speed layer to write the events", lambda: speed_stats(settings).get("flushes", 0) > 0, 90)
        wait_for("the speed layer to read the events", lambda: speed_stats(settings).get("records", 0) >= 2000, 60)
        wait_for("the lander to land the events", lambda: lander_stats(settings).get("landed", 0) >= 2000, 60)
        children = (speed.child_pid(), lander.child_pid())
        job_before = speed_stats(settings)["job_id"]

        probes = idle_probes(settings)
        time.sleep(quiet_s)
        closed = {name: closed_by_server(probe, grace_s=15) for name, probe in probes.items()}
        assert all(closed.values()), f"a server kept an idle connection open past its timeout: {closed}"

        resumed, resumed_at = time.monotonic(), time.time()
        after = live_lines(2000, "after")
        for line in after:
            publisher.publish(line)
        assert publisher.producer.flush(30) == 0  # the idle producer's connection was reopened
        assert publisher.result.acknowledged == 4000
        acknowledged = {json.loads(line)["event_id"] for line in before + after}
        # Every event in HBase: the users' sessions, which span the quiet period (it is shorter than the
        # session timeout) and are still open, hold every event, as the reference's sessions do.
        expected = reference_sessions(settings, before + after)
        assert len(expected) == 40 and all(s["events"] == 100 for s in expected)
        wait_for("the speed sessions to be the reference's", lambda: speed_sessions(settings, False) == expected, 60, 1)
        wait_all_landed(settings, acknowledged, 60)
        recover_s = time.monotonic() - resumed

        # The job's HBase sink wrote after the quiet period (the stats file follows every 2 s), in the same job.
        flushed = lambda: speed_stats(settings).get("last_flush_at", 0) > resumed_at  # noqa: E731
        wait_for("the speed layer's HBase sink to flush after the quiet period", flushed, 20, 0.5)
        assert speed_stats(settings)["job_id"] == job_before
        assert (speed.child_pid(), lander.child_pid()) == children  # the same processes, nothing restarted
        for job in (speed, lander):
            assert job.supervision().restarts == 0
    finally:
        publisher.close(30)
        speed.stop()
        lander.stop()
    verdict = check(settings, acknowledged)
    record(
        reliability,
        "quiet period past the servers' idle-connection timeouts",
        1,
        verdict,
        recover_s,
        f"{quiet_s:.0f}s without traffic (server timeouts {timeouts}); no restart, the job's HBase sink wrote on",
    )
    verdict.assert_clean()
