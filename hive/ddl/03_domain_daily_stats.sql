-- Grain: one row per host and day (the sessions that start on dt).
CREATE EXTERNAL TABLE IF NOT EXISTS domain_daily_stats (
    host STRING,
    sessions BIGINT,
    events BIGINT,
    avg_events_per_session DOUBLE,
    max_events_per_session INT,
    median_events_per_session DOUBLE,
    unique_ips BIGINT,
    avg_duration_s DOUBLE,
    median_duration_s DOUBLE,
    bounce_rate DOUBLE
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/domain_daily_stats';
