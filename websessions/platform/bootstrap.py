"""The stores' initial state that every deployment creates before the first event: idempotent, safe to rerun.

The local stack runs these steps once its Kafka and HDFS answer; the cluster's ``init`` service
(``docker/websessions/init_cluster.py``) runs them against the cluster's services.
"""

from __future__ import annotations

from websessions.settings import Settings


def product_topics(settings: Settings) -> tuple[str, ...]:
    """The topics the product writes: events, dead letters, alerts."""
    return settings.kafka_topic_events, settings.kafka_topic_dlq, settings.kafka_topic_alerts


def create_topics(settings: Settings) -> None:
    """Create the product's topics that do not exist yet (``kafka_partitions`` partitions each)."""
    from websessions.clients import kafka

    kafka.ensure_topics(settings, *product_topics(settings))


def create_hdfs_dirs(settings: Settings) -> None:
    """Create the raw-events and warehouse directories in HDFS."""
    from websessions.clients.hdfs import webhdfs

    client = webhdfs(settings)
    for path in (settings.raw_events_dir, settings.warehouse_dir):
        client.makedirs(path)
