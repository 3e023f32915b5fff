"""The one settings module: every host, port, credential, path and tunable of the platform.

Each field can be overridden by an environment variable named ``WEBSESSIONS_<FIELD>`` (upper case),
e.g. ``WEBSESSIONS_KAFKA_PORT=19092``. Defaults bind every local service to 127.0.0.1. The same
names appear in ``docker-compose.yml``, where only the values differ (service host names).

Secrets (the Postgres, Airflow and dashboard passwords) are never defaults in code: unless given by the
environment they are generated on first use into ``<stack_dir>/secrets.json`` (git-ignored).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path

ENV_PREFIX = "WEBSESSIONS_"
REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET_FIELDS = (
    "postgres_password",
    "airflow_password",
    "airflow_jwt_secret",
    "airflow_fernet_key",
    "dashboard_password",
)


def _new_secret(name: str) -> str:
    if name == "airflow_fernet_key":  # Fernet wants 32 url-safe base64-encoded bytes
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Settings:
    """Platform configuration; build it with :func:`load_settings`."""

    # Where the local stack keeps data, logs and pids, and where downloaded artifacts are cached.
    stack_dir: Path = REPO_ROOT / ".stack"
    cache_dir: Path = Path.home() / ".cache" / "websessions"
    bind_host: str = "127.0.0.1"

    # PostgreSQL: product database + Airflow metadata database, one cluster.
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_db: str = "websessions"
    postgres_user: str = "websessions"
    postgres_password: str = ""
    postgres_bin_dir: str = ""  # empty: discovered under /usr/lib/postgresql/<major>/bin
    airflow_db: str = "airflow"
    metastore_db: str = "metastore"

    # Kafka (KRaft, one broker+controller).
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_topic_events: str = "web_events"
    kafka_topic_dlq: str = "web_events_dlq"
    kafka_partitions: int = 2
    kafka_heap: str = "512m"
    # The broker closes a client connection idle this long (Kafka's connections.max.idle.ms, 10 min by
    # default): short here so that every client's reconnect path runs daily and a test can wait it out.
    kafka_connections_max_idle_ms: int = 30_000
    # The speed layer's session updates (Flink job -> HBase writer), one changelog row per update.
    kafka_topic_session_updates: str = "web_session_updates"
    # How every Kafka client (librdkafka and Flink's Java client; websessions.clients.kafka) connects: to
    # kafka_bootstrap_servers (comma-separated host:port; empty: kafka_host:kafka_port) with
    # security.protocol PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; the SASL mechanism (SCRAM-SHA-512,
    # SCRAM-SHA-256 or PLAIN) and credentials; a PEM CA file that signs the brokers' certificates (TLS).
    kafka_bootstrap_servers: str = ""
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    kafka_ssl_ca_file: str = ""
    # The local stack's Kafka: an additional SASL_PLAINTEXT listener (SCRAM-SHA-512, on 127.0.0.1) on its
    # own port, with the SCRAM user kafka_sasl_username / kafka_sasl_password created when the storage is
    # formatted. Clients use it with kafka_bootstrap_servers=127.0.0.1:<kafka_sasl_port> and SASL_PLAINTEXT.
    kafka_sasl_listener: bool = False
    kafka_sasl_port: int = 9094

    # The HTTP beacon collector and the raw lander.
    collector_host: str = "127.0.0.1"
    collector_port: int = 8090
    collector_max_body_bytes: int = 65536
    # The raw lander: its lease's lifetime (one lander per topic; websessions.lander_lease) and, for fault
    # tests only, a named point at which it kills itself (websessions.lander.FAILPOINTS; empty: none).
    lander_lease_ttl_s: int = 30
    lander_failpoint: str = ""
    # A partition that delivered nothing for this long stops holding the lander's watermark back; whether
    # the lander tells Airflow about late events (websessions.late_data; off for datasets of tests).
    lander_idle_partition_s: int = 30
    lander_notify_airflow: bool = True
    # The collector's HTTP server (uvicorn, see websessions.collector.server): a request's head must
    # arrive within header_timeout_s and be at most max_head_bytes, its body within body_timeout_s;
    # an idle keep-alive connection is closed after keepalive_s; at most max_connections at once
    # (beyond: 503); a pixel's query string is at most max_query_bytes (414); workers: processes
    # sharing the port (SO_REUSEPORT).
    collector_header_timeout_s: float = 5.0
    collector_body_timeout_s: float = 10.0
    collector_keepalive_s: float = 5.0
    collector_max_connections: int = 1000
    collector_max_head_bytes: int = 32768
    collector_max_query_bytes: int = 8192
    collector_workers: int = 1
    # Origins whose pages may send beacons (CORS), comma-separated: the five sites of report_hosts.
    collector_cors_origins: str = (
        "https://bootcamp.techcreator.io,https://www.dataexpert.io,https://zachwilson.techcreator.io,"
        "https://lulu.techcreator.io,https://zachwilson.tech"
    )
    # Kafka behind the collector: librdkafka's bounded queue, how long an event may wait for Kafka's
    # acknowledgement before the request is answered 503 (with Retry-After), the producer's linger.
    collector_queue_max_messages: int = 100_000
    collector_queue_max_kbytes: int = 32768
    collector_delivery_timeout_s: float = 5.0
    collector_retry_after_s: int = 5
    collector_linger_ms: int = 1
    # `websessions ingest`: a message Kafka has not acknowledged after this long fails the run.
    ingest_delivery_timeout_s: float = 30.0
    # `websessions ingest --format combined --follow`: where each followed log's position (file identity +
    # offset, committed once Kafka acknowledged) is kept (empty: <stack_dir>/data/access_log), how often
    # the file is polled, and how long a rotated-away file must stay unwritten before it is left.
    access_log_state_dir: str = ""
    access_log_poll_s: float = 0.2
    access_log_rotate_grace_s: float = 1.0

    # HDFS (NameNode + DataNode).
    hdfs_host: str = "127.0.0.1"
    hdfs_rpc_port: int = 8020
    hdfs_http_port: int = 9870
    hdfs_datanode_port: int = 9866
    hdfs_datanode_http_port: int = 9864
    hdfs_datanode_ipc_port: int = 9867
    hdfs_user: str = "websessions"
    hdfs_heap: str = "384m"
    # The NameNode's and DataNode's HTTP servers close keep-alive connections idle this long
    # (hadoop.http.idle_timeout.ms, 60 s by default); the WebHDFS client opens a new one.
    hdfs_http_idle_timeout_ms: int = 30_000
    raw_events_dir: str = "/data/raw/web_events"
    warehouse_dir: str = "/warehouse"

    # HBase (standalone master+regionserver+ZooKeeper, and the Thrift 1 server).
    hbase_host: str = "127.0.0.1"
    hbase_thrift_port: int = 9090
    hbase_thrift_info_port: int = 9095
    hbase_zookeeper_port: int = 2181
    hbase_master_port: int = 16000
    hbase_regionserver_port: int = 16020
    hbase_heap: str = "768m"
    hbase_thrift_heap: str = "256m"
    hbase_table_sessions: str = "web_sessions"
    hbase_session_ttl_days: int = 30
    hbase_table_live_metrics: str = "web_live_metrics"
    # The Thrift server closes a client connection that sent nothing for this long
    # (hbase.thrift.server.socket.read.timeout, 60 s by default); clients reconnect (stores.hbase_sessions).
    hbase_thrift_idle_timeout_ms: int = 30_000

    # HiveServer2 protocol (Spark's Thrift server) with a Postgres-backed metastore.
    hive_host: str = "127.0.0.1"
    hive_port: int = 10000
    hive_user: str = "websessions"
    hive_driver_memory: str = "768m"
    hive_database: str = "default"  # the database of the batch layer's tables (hive/ddl)

    # Airflow 3 (api-server, scheduler, dag-processor; LocalExecutor).
    airflow_host: str = "127.0.0.1"
    airflow_port: int = 8080
    airflow_user: str = "admin"
    airflow_password: str = ""
    airflow_jwt_secret: str = ""
    airflow_fernet_key: str = ""
    dags_dir: Path = REPO_ROOT / "dags"

    # Spark and Flink run in-process when jobs run (spark_master local[2]), or in cluster mode on the
    # stack's standalone clusters (`websessions stack up --cluster`, stack_cluster): a Flink session
    # cluster (a JobManager, flink_taskmanagers TaskManagers of one slot each, checkpoints on HDFS) and a
    # Spark master with one worker; spark_master is then the Spark master's unless set (docs/cluster.md).
    stack_cluster: bool = False
    flink_host: str = "127.0.0.1"
    flink_rest_port: int = 8081
    flink_rpc_port: int = 6123
    flink_taskmanagers: int = 2
    flink_jobmanager_memory: str = "768m"
    flink_taskmanager_memory: str = "1024m"
    flink_checkpoints_dir: str = "/websessions/flink/checkpoints"
    spark_master_host: str = "127.0.0.1"
    spark_master_port: int = 7077
    spark_master_ui_port: int = 8082
    spark_worker_ui_port: int = 8083
    spark_worker_cores: int = 1
    spark_worker_memory: str = "1g"
    spark_master: str = "local[2]"
    # The batch job caches a day's events uncompressed (batch.spark): 10M events need about 3 GB of it.
    spark_driver_memory: str = "4g"
    flink_parallelism: int = 2
    # The speed layer (streaming/): checkpoint interval (the heap state is snapshotted whole each time:
    # shorter costs CPU, longer means more to read again after a crash), how often a key's open sessions
    # are emitted (the live view's update rate), the idle time after which a silent Kafka partition stops
    # holding the watermark back, the job JVM's heap.
    speed_checkpoint_interval_s: int = 30
    speed_emit_interval_ms: int = 500
    speed_idle_timeout_s: int = 30
    speed_heap: str = "1g"
    # Bounded state of the speed layer's session operator: per session at most this many counted event
    # times (for the dedupe rule) and distinct urls. Beyond them `events` still counts exactly, but a copy
    # of an event not kept counts again, and `pages` stops at the cap (docs/sessions.md; batch is the truth).
    speed_max_ids_per_session: int = 10_000
    speed_max_urls_per_session: int = 1_000
    # The live top lists (pages, referrers per host and minute; docs/sessions.md): on or off (the benchmark
    # compares), and the distinct items counted exactly per host, minute and list (the rest as "(other)").
    speed_top_lists: bool = True
    speed_top_max_items_per_minute: int = 1_000
    # The supervisor of the long-running jobs (lander, speed layer, collector; websessions.stack.supervisor):
    # a job that dies unasked is restarted after a backoff doubling from initial to max; after
    # crash_loop_restarts crashes within crash_loop_window_s it is a crash loop, retried at the max.
    supervisor_backoff_initial_s: float = 1.0
    supervisor_backoff_max_s: float = 60.0
    supervisor_crash_loop_restarts: int = 5
    supervisor_crash_loop_window_s: float = 300.0
    # The batch layer (batch/): shuffle partitions of its Spark jobs, how many Hive tables are written at
    # once, and how many sessions of a day are collected to the driver and COPYed into Postgres (more:
    # Spark writes them as COPY text files on HDFS, streamed into a staging table).
    batch_shuffle_partitions: int = 8
    batch_hive_writers: int = 3
    batch_postgres_collect_max: int = 100_000
    # Recommendations (websessions.analytics.page_covisits): pages kept per page, most co-visited first.
    recommend_top_k: int = 5

    # The dashboard (websessions.dashboard, Streamlit): where it listens; bound to anything but 127.0.0.1 it
    # asks for dashboard_password (generated into the secrets file); how long a read is cached server-side
    # (every viewer within that time shares one query) and how often the Live page refreshes itself.
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = 8501
    dashboard_password: str = ""
    dashboard_cache_ttl_s: int = 5
    dashboard_refresh_s: int = 5

    # Reconciliation and reporting.
    reconcile_max_mismatch_ratio: float = 0.05
    report_hosts: str = (
        "bootcamp.techcreator.io,www.dataexpert.io,zachwilson.techcreator.io,lulu.techcreator.io,zachwilson.tech"
    )
    report_group_suffix: str = ".techcreator.io"

    # Anomaly alerts (websessions.anomalies, run online by websessions.alerting over the speed layer's
    # per-minute metrics): the monitored hosts (empty: report_hosts), where alerts go (a Kafka topic and a
    # Postgres table, grain one row per host, minute and kind), how often closed minutes are looked for and
    # how long a minute's metrics row must have been there before it is read (the job sums the ips of a
    # minute in two subtasks). The baseline: trailing minutes that were not anomalous (at most
    # baseline_minutes, judged from min_baseline_minutes on), compared over windows of these lengths.
    alerts_hosts: str = ""
    kafka_topic_alerts: str = "web_alerts"
    postgres_table_alerts: str = "web_alerts"
    alerts_poll_interval_s: float = 2.0
    alerts_settle_s: float = 3.0
    alerts_baseline_minutes: int = 60
    alerts_min_baseline_minutes: int = 15
    alerts_windows: str = "1,3,5,10"
    # Thresholds. Active users (spike, drop, silence) are judged by a robust z: (observed - median) /
    # max(1.4826 * MAD, sqrt(median)) over the window's sums in the baseline; drops and spikes not below
    # min_expected users per window. spike: observed >= spike_ratio x expected; drop: observed <= (1 -
    # drop_ratio) x expected and z >= drop_z (or the users' and the events' z both >= drop_z_both);
    # silence: no user at all over a window expected to hold silence_min_expected; error_rate: errors /
    # events at least error_rate_min and error_ratio x the baseline's rate, error_min_count errors, binomial
    # z. A kind is alerted when it starts on a host, again only after clear_minutes without it. Drops also
    # count when the count z (the signed root of the Poisson deviance / sqrt(drop_dispersion)) against the
    # trailing or the seasonal expectation (the median of the same window at the same minute of the last
    # season_days days; 0: none) is >= drop_count_z; with a day of history a drop must be one against both.
    # Measured in docs/benchmarks.md (bench/bench_anomalies.py).
    alerts_min_expected: float = 10.0
    alerts_spike_ratio: float = 3.0
    alerts_spike_z: float = 6.0
    alerts_drop_ratio: float = 0.6
    alerts_drop_z: float = 3.5
    alerts_drop_z_both: float = 3.0
    alerts_drop_count_z: float = 4.0
    alerts_drop_dispersion: float = 2.0
    alerts_season_days: int = 7
    alerts_silence_min_expected: float = 15.0
    alerts_silence_z: float = 3.0
    alerts_error_rate_min: float = 0.25
    alerts_error_ratio: float = 3.0
    alerts_error_z: float = 7.0
    alerts_error_min_count: int = 8
    alerts_clear_minutes: int = 2

    # The session rule (see websessions.sessions): all tunables are named settings.
    session_timeout_s: int = 300
    allowed_lateness_s: int = 60
    days_late_allowed: int = 1
    max_session_days: int = 2

    @property
    def kafka_bootstrap(self) -> str:
        """The Kafka clients' bootstrap servers."""
        return self.kafka_bootstrap_servers or f"{self.kafka_host}:{self.kafka_port}"

    @property
    def hdfs_url(self) -> str:
        return f"hdfs://{self.hdfs_host}:{self.hdfs_rpc_port}"

    @property
    def flink_rest_url(self) -> str:
        return f"http://{self.flink_host}:{self.flink_rest_port}"

    @property
    def spark_cluster_master(self) -> str:
        """The stack's Spark standalone master (cluster mode)."""
        return f"spark://{self.spark_master_host}:{self.spark_master_port}"

    @property
    def spark_master_ui_url(self) -> str:
        return f"http://{self.spark_master_host}:{self.spark_master_ui_port}"

    def in_cluster_mode(self) -> Settings:
        """These settings with ``stack_cluster`` on; ``spark_master`` the stack's Spark master unless set."""
        master = self.spark_cluster_master if self.spark_master == Settings.spark_master else self.spark_master
        return dataclasses.replace(self, stack_cluster=True, spark_master=master)

    @property
    def webhdfs_url(self) -> str:
        return f"http://{self.hdfs_host}:{self.hdfs_http_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://{self.airflow_host}:{self.airflow_port}"

    @property
    def logs_dir(self) -> Path:
        return self.stack_dir / "logs"

    @property
    def data_dir(self) -> Path:
        return self.stack_dir / "data"

    @property
    def run_dir(self) -> Path:
        return self.stack_dir / "run"

    @property
    def conf_dir(self) -> Path:
        return self.stack_dir / "conf"

    def postgres_dsn(self, db: str | None = None) -> str:
        """A libpq connection string for ``db`` (the product database by default)."""
        return (
            f"host={self.postgres_host} port={self.postgres_port} dbname={db or self.postgres_db} "
            f"user={self.postgres_user} password={self.postgres_password}"
        )

    def postgres_url(self, db: str | None = None, driver: str = "postgresql+psycopg2") -> str:
        return (
            f"{driver}://{self.postgres_user}:{self.postgres_password}@"
            f"{self.postgres_host}:{self.postgres_port}/{db or self.postgres_db}"
        )

    def as_env(self) -> dict[str, str]:
        """The settings as ``WEBSESSIONS_*`` variables, to hand to child processes."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in _public_fields()}


def _public_fields() -> list[dataclasses.Field]:
    return list(fields(Settings))


def _coerce(raw: str, default: object, name: str) -> object:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a number") from exc
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not an integer") from exc
    if isinstance(default, Path):
        return Path(raw).expanduser()
    return raw


def _load_secrets(stack_dir: Path, create: bool) -> dict[str, str]:
    path = stack_dir / "secrets.json"
    values = json.loads(path.read_text()) if path.exists() else {}
    if not create or all(values.get(name) for name in SECRET_FIELDS):
        return values
    values = {name: values.get(name) or _new_secret(name) for name in SECRET_FIELDS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def load_settings(env: dict[str, str] | None = None, create_secrets: bool = True) -> Settings:
    """Build settings from defaults, ``WEBSESSIONS_*`` overrides and the generated secrets file."""
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    for f in _public_fields():
        default = f.default if f.default is not dataclasses.MISSING else None
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _coerce(raw, default, f.name)
    stack_dir = Path(values.get("stack_dir", Settings.stack_dir))
    missing = [name for name in SECRET_FIELDS if not values.get(name)]
    if missing:
        stored = _load_secrets(stack_dir, create_secrets)
        for name in missing:
            if stored.get(name):
                values[name] = stored[name]
    settings = Settings(**values)
    return settings.in_cluster_mode() if settings.stack_cluster else settings


@cache
def get_settings() -> Settings:
    """The process-wide settings, built once from the environment."""
    return load_settings()
