-- Analytics of the day (websessions.analytics defines them; batch/analytics.py computes them), one
-- partition per day. Like the history tables, they count the events of the sessions that start on dt.

-- Grain: one row per host, user agent ('' when the sessions had none) and day: the agent's class
-- (user-agents on ua-parser's regexes; device_class bot, tablet, mobile or desktop; is_bot = bot) and
-- the sessions whose first event carried it. Join web_sessions on (dt, host, user_agent) for a session's class.
CREATE EXTERNAL TABLE IF NOT EXISTS agents_daily (
    host STRING,
    user_agent STRING,
    browser_family STRING,
    os_family STRING,
    device_class STRING,
    is_bot BOOLEAN,
    sessions BIGINT,
    events BIGINT
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/agents_daily';

-- Grain: one row per host, event type (pageview when the event has none) and day.
CREATE EXTERNAL TABLE IF NOT EXISTS event_types_daily (
    host STRING,
    event_type STRING,
    events BIGINT,
    sessions BIGINT
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/event_types_daily';

-- Grain: one row per host, page and day, plus one per host and day with page NULL (all its pages):
-- events with a load time (samples) and percentile_approx(load_time_ms, accuracy 10000) at 0.5, 0.95
-- and 0.99, which is the nearest-rank percentile below 10,000 samples.
CREATE EXTERNAL TABLE IF NOT EXISTS load_times_daily (
    host STRING,
    page STRING,
    samples BIGINT,
    p50_ms DOUBLE,
    p95_ms DOUBLE,
    p99_ms DOUBLE
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/load_times_daily';

-- Grain: one row per host and UTC hour with events of dt's sessions (a session crossing midnight puts
-- its later events in hours of dt + 1 in this partition): events, sessions started, active users
-- (distinct IPs with an event in the hour), errors (status >= 400).
CREATE EXTERNAL TABLE IF NOT EXISTS hourly_trends (
    host STRING,
    hour TIMESTAMP,
    events BIGINT,
    sessions_started BIGINT,
    active_users BIGINT,
    errors BIGINT
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/hourly_trends';

-- Grain: one row per host, page, rank (1 .. recommend_top_k) and day: the page also viewed in the most
-- sessions (bots excluded) that viewed page; ties ranked by also_viewed ascending.
CREATE EXTERNAL TABLE IF NOT EXISTS page_covisits_daily (
    host STRING,
    page STRING,
    rank INT,
    also_viewed STRING,
    sessions BIGINT
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/page_covisits_daily';
