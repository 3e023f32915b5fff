"""Kafka (KRaft) round trip with the product's client configuration."""

from __future__ import annotations

import uuid

from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic

from websessions.clients import kafka


def test_the_product_topics_exist_with_the_configured_partitions(stack) -> None:
    settings = stack("kafka")
    topics = kafka.admin(settings).list_topics(timeout=10).topics
    for name in (settings.kafka_topic_events, settings.kafka_topic_dlq):
        assert name in topics
        assert len(topics[name].partitions) == settings.kafka_partitions


def test_produced_messages_are_consumed_back_exactly(stack) -> None:
    settings = stack("kafka")
    topic = f"test_roundtrip_{uuid.uuid4().hex[:8]}"
    admin = kafka.admin(settings)
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result()
    try:
        sent = {f"key-{i}": f"value-{i}-ünïcode" for i in range(500)}
        producer = kafka.producer(settings)
        for key, value in sent.items():
            producer.produce(topic, key=key.encode(), value=value.encode())
        assert producer.flush(30) == 0

        consumer = kafka.consumer(settings, group_id=f"g-{topic}")
        consumer.subscribe([topic])
        received: dict[str, str] = {}
        for _ in range(200):
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    raise KafkaException(msg.error())
                received[msg.key().decode()] = msg.value().decode()
            if len(received) >= len(sent):
                break
        consumer.close()
        assert received == sent
    finally:
        for future in admin.delete_topics([topic]).values():
            future.result()
