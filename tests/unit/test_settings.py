"""The one settings module: defaults, WEBSESSIONS_* overrides, generated secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from websessions.settings import SECRET_FIELDS, Settings, load_settings


def test_defaults_bind_every_service_to_loopback(tmp_path: Path) -> None:
    s = load_settings({"WEBSESSIONS_STACK_DIR": str(tmp_path)})
    hosts = {
        s.bind_host,
        s.postgres_host,
        s.kafka_host,
        s.hdfs_host,
        s.hbase_host,
        s.hive_host,
        s.airflow_host,
    }
    assert hosts == {"127.0.0.1"}
    assert (s.postgres_port, s.kafka_port, s.hdfs_rpc_port, s.hdfs_http_port) == (5432, 9092, 8020, 9870)
    assert (s.hbase_thrift_port, s.hive_port, s.airflow_port) == (9090, 10000, 8080)
    assert s.session_timeout_s == 300


def test_environment_overrides_are_typed(tmp_path: Path) -> None:
    s = load_settings(
        {
            "WEBSESSIONS_STACK_DIR": str(tmp_path),
            "WEBSESSIONS_KAFKA_PORT": "19092",
            "WEBSESSIONS_KAFKA_HOST": "kafka",
            "WEBSESSIONS_SESSION_TIMEOUT_S": "600",
        }
    )
    assert s.kafka_port == 19092
    assert s.kafka_bootstrap == "kafka:19092"
    assert s.session_timeout_s == 600
    assert s.stack_dir == tmp_path


def test_a_non_integer_port_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="WEBSESSIONS_KAFKA_PORT='x' is not an integer"):
        load_settings({"WEBSESSIONS_STACK_DIR": str(tmp_path), "WEBSESSIONS_KAFKA_PORT": "x"})


def test_secrets_are_generated_once_into_a_private_file(tmp_path: Path) -> None:
    first = load_settings({"WEBSESSIONS_STACK_DIR": str(tmp_path)})
    second = load_settings({"WEBSESSIONS_STACK_DIR": str(tmp_path)})
    path = tmp_path / "secrets.json"
    assert path.stat().st_mode & 0o777 == 0o600
    stored = json.loads(path.read_text())
    assert set(stored) == set(SECRET_FIELDS)
    assert len(first.postgres_password) >= 20
    assert first.postgres_password == second.postgres_password == stored["postgres_password"]
    assert first.postgres_password != first.airflow_password


def test_an_environment_secret_wins_over_the_file(tmp_path: Path) -> None:
    load_settings({"WEBSESSIONS_STACK_DIR": str(tmp_path)})
    s = load_settings({"WEBSESSIONS_STACK_DIR": str(tmp_path), "WEBSESSIONS_POSTGRES_PASSWORD": "from-env"})
    assert s.postgres_password == "from-env"
    assert "password=from-env" in s.postgres_dsn()


def test_no_secret_has_a_default_in_code() -> None:
    for name in SECRET_FIELDS:
        assert getattr(Settings(), name) == ""


def test_as_env_round_trips_through_load_settings(tmp_path: Path) -> None:
    original = load_settings({"WEBSESSIONS_STACK_DIR": str(tmp_path), "WEBSESSIONS_HIVE_PORT": "10001"})
    assert load_settings(original.as_env()) == original


def test_cluster_mode_sends_the_batch_to_the_stacks_spark_master_unless_one_is_set(tmp_path: Path) -> None:
    env = {"WEBSESSIONS_STACK_DIR": str(tmp_path)}
    assert load_settings(env).spark_master == "local[2]"
    cluster = load_settings({**env, "WEBSESSIONS_STACK_CLUSTER": "1"})
    assert cluster.stack_cluster and cluster.spark_master == "spark://127.0.0.1:7077"
    assert load_settings(env).in_cluster_mode() == cluster
    assert load_settings(cluster.as_env()) == cluster  # what Airflow's children get
    chosen = load_settings({**env, "WEBSESSIONS_STACK_CLUSTER": "1", "WEBSESSIONS_SPARK_MASTER": "spark://m:7077"})
    assert chosen.spark_master == "spark://m:7077"
    assert (cluster.flink_rest_url, cluster.spark_master_ui_url) == ("http://127.0.0.1:8081", "http://127.0.0.1:8082")
