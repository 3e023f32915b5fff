-- The lander's raw events (canonical JSON lines, one directory per UTC day), read in place.
-- Grain: one row per landed event. A Spark data source table (JSON): the pip Spark ships no Hive JSON
-- SerDe. The batch job registers each day it reads (ALTER TABLE ... ADD PARTITION ... LOCATION).
-- ${raw_events}: the raw area (settings.raw_events_dir on HDFS); `websessions hive -f` fills it in.
CREATE TABLE IF NOT EXISTS web_events_raw (
    event_id STRING,
    event_time STRING,
    ip STRING,
    host STRING,
    url STRING,
    referrer STRING,
    user_agent STRING,
    headers STRING,
    event_type STRING,
    status INT,
    user_id STRING,
    geo STRUCT<country: STRING, region: STRING, city: STRING>,
    load_time_ms DOUBLE,
    dt STRING
)
USING json
PARTITIONED BY (dt)
LOCATION '${raw_events}';
