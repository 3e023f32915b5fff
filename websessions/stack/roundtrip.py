"""A round trip through each service with the client the product uses: write a marker, read it back.

Used by ``websessions demo`` to prove the stack works end to end, and by the restart test to
prove that what was written survives ``stack down`` + ``stack up``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from websessions.clients import hbase, hdfs, hive, kafka, postgres
from websessions.clients.airflow import AirflowApi
from websessions.settings import Settings

MARKER = "stack_roundtrip"


def _postgres_write(s: Settings, value: str) -> None:
    with postgres.connect(s) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {MARKER} (name text PRIMARY KEY, value text NOT NULL)")
        upsert = f"INSERT INTO {MARKER} VALUES ('marker', %s) ON CONFLICT (name) DO UPDATE SET value = %s"
        cur.execute(upsert, (value, value))
        conn.commit()


def _postgres_read(s: Settings) -> str:
    with postgres.connect(s) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT value FROM {MARKER} WHERE name = 'marker'")
        return cur.fetchone()[0]


def _kafka_write(s: Settings, value: str) -> None:
    from confluent_kafka.admin import NewTopic

    admin = kafka.admin(s)
    if MARKER not in admin.list_topics(timeout=10).topics:
        for future in admin.create_topics([NewTopic(MARKER, 1, 1)]).values():
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - a concurrent creation is fine
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
    producer = kafka.producer(s)
    producer.produce(MARKER, value=value.encode())
    if producer.flush(15) != 0:
        raise RuntimeError("kafka did not acknowledge the marker within 15 s")


def _kafka_read(s: Settings) -> str:
    """The last message of the marker topic, read from the beginning of its only partition."""
    from confluent_kafka import TopicPartition

    consumer = kafka.consumer(s, group_id=f"{MARKER}-reader")
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(MARKER, 0), timeout=10)
        if high <= low:
            raise LookupError("the kafka marker topic is empty")
        consumer.assign([TopicPartition(MARKER, 0, high - 1)])
        msg = consumer.poll(15)
        if msg is None or msg.error():
            raise LookupError(f"could not read the kafka marker: {msg.error() if msg else 'timeout'}")
        return msg.value().decode()
    finally:
        consumer.close()


HDFS_PATH = f"/tmp/{MARKER}/marker.txt"


def _hdfs_write(s: Settings, value: str) -> None:
    hdfs.webhdfs(s).write(HDFS_PATH, data=value.encode(), overwrite=True)


def _hdfs_read(s: Settings) -> str:
    with hdfs.webhdfs(s).read(HDFS_PATH) as reader:
        return reader.read().decode()


def _hbase_write(s: Settings, value: str) -> None:
    with hbase.connect(s) as conn:
        if MARKER.encode() not in conn.tables():
            conn.create_table(MARKER, {"v": {"max_versions": 1}})
        conn.table(MARKER).put(b"marker", {b"v:value": value.encode()})


def _hbase_read(s: Settings) -> str:
    with hbase.connect(s) as conn:
        return conn.table(MARKER).row(b"marker")[b"v:value"].decode()


def _hive_write(s: Settings, value: str) -> None:
    with hive.connect(s) as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE TABLE IF NOT EXISTS {MARKER} (value STRING) STORED AS PARQUET")
        cur.execute(f"INSERT OVERWRITE TABLE {MARKER} SELECT {json.dumps(value)}")


def _hive_read(s: Settings) -> str:
    with hive.connect(s) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT value FROM {MARKER}")
        return cur.fetchall()[0][0]


def _airflow_write(s: Settings, value: str) -> None:
    api = AirflowApi(s)
    body = {"key": MARKER, "value": value}
    try:
        api.request("PATCH", f"/api/v2/variables/{MARKER}", json=body)
    except RuntimeError:
        api.request("POST", "/api/v2/variables", json=body)


def _airflow_read(s: Settings) -> str:
    return AirflowApi(s).request("GET", f"/api/v2/variables/{MARKER}")["value"]


ROUND_TRIPS: dict[str, tuple[Callable[[Settings, str], None], Callable[[Settings], str]]] = {
    "postgres": (_postgres_write, _postgres_read),
    "kafka": (_kafka_write, _kafka_read),
    "hdfs": (_hdfs_write, _hdfs_read),
    "hbase": (_hbase_write, _hbase_read),
    "hive": (_hive_write, _hive_read),
    "airflow": (_airflow_write, _airflow_read),
}


def write_marker(settings: Settings, service: str, value: str) -> None:
    ROUND_TRIPS[service][0](settings, value)


def read_marker(settings: Settings, service: str) -> str:
    return ROUND_TRIPS[service][1](settings)
