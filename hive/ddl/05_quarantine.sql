-- What the batch refused, kept rather than dropped (dt = the day whose run refused it).

-- Grain: one row per invalid raw line of dt's files; reason as in websessions.events (or wrong_partition).
CREATE EXTERNAL TABLE IF NOT EXISTS web_events_quarantine (
    reason STRING,
    source_dt STRING,
    from_late_area BOOLEAN,
    event_time STRING,
    ip STRING,
    host STRING,
    url STRING,
    event_id STRING,
    raw STRING
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/web_events_quarantine';

-- Grain: one row per session of dt longer than max_session_days (SessionRule.is_overlong); web_sessions' columns.
CREATE EXTERNAL TABLE IF NOT EXISTS web_sessions_quarantine (
    session_id STRING,
    host STRING,
    ip STRING,
    start_ms BIGINT,
    end_ms BIGINT,
    start_ts TIMESTAMP,
    end_ts TIMESTAMP,
    duration_s DOUBLE,
    events INT,
    pages INT,
    first_url STRING,
    last_url STRING,
    referrer STRING,
    user_agent STRING,
    errors INT,
    geo STRUCT<country: STRING, region: STRING, city: STRING>,
    status STRING
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/web_sessions_quarantine';
