-- Sessions of the batch layer. Grain: one row per session of one (ip, host); dt = the UTC day it
-- starts on. Written by the nightly batch, one partition per run (INSERT OVERWRITE ... PARTITION).
CREATE EXTERNAL TABLE IF NOT EXISTS web_sessions (
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
LOCATION '${tables}/web_sessions';
