"""The speed layer's HBase writer on the cluster (the ``speed-writer`` service).

Locally ``websessions speed run`` runs the PyFlink job and this writer in one process
(:mod:`streaming.runner`). On the cluster the job runs in Flink (submitted by the ``speed-job``
service with ``flink run -py``) and this container runs only the writer: it consumes the job's
session-update topic and applies it to HBase with :class:`streaming.hbase_sink.SpeedSink`, committing
its offsets after each HBase flush and rebuilding its live state from HBase when it starts (so a
restarted container neither loses nor double-counts updates).

Liveness: the sink's tick touches ``<run_dir>/speed-writer.heartbeat`` every couple of seconds;
``healthcheck.py speed-writer`` fails when it goes stale.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from streaming.hbase_sink import SpeedSink
from websessions.clients import kafka
from websessions.settings import Settings, load_settings

log = logging.getLogger("speed-writer")


def heartbeat_path(settings: Settings):
    return settings.run_dir / "speed-writer.heartbeat"


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(create_secrets=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    kafka.ensure_topics(settings, settings.kafka_topic_events)
    heartbeat = heartbeat_path(settings)
    heartbeat.parent.mkdir(parents=True, exist_ok=True)
    heartbeat.touch()
    sink = SpeedSink(settings)
    stats = sink.run(stop, on_tick=lambda _sink: heartbeat.touch(), tick_interval_s=2.0)
    log.info("speed writer stopped: %s", stats.as_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
