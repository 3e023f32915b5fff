-- History tables, one partition per day. Every table counts the events of the sessions that start on
-- dt (deduplicated), so they reconcile with web_sessions. Pages are urls without query or fragment.

-- Grain: one row per host, page and day.
CREATE EXTERNAL TABLE IF NOT EXISTS page_views_daily (
    host STRING,
    page STRING,
    views BIGINT,
    sessions BIGINT
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/page_views_daily';

-- Grain: one row per host, section (first path segment, '/' for the home page) and day.
CREATE EXTERNAL TABLE IF NOT EXISTS section_engagement_daily (
    host STRING,
    section STRING,
    views BIGINT,
    sessions BIGINT,
    views_per_session DOUBLE
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/section_engagement_daily';

-- Grain: one row per host, page pair and day: how often to_page directly followed from_page in a session.
CREATE EXTERNAL TABLE IF NOT EXISTS navigation_paths_daily (
    host STRING,
    from_page STRING,
    to_page STRING,
    transitions BIGINT
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/navigation_paths_daily';

-- Grain: one row per host, referring host (of the session's first event; '(direct)' without) and day.
CREATE EXTERNAL TABLE IF NOT EXISTS referrers_daily (
    host STRING,
    referrer_host STRING,
    sessions BIGINT,
    events BIGINT
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/referrers_daily';

-- Grain: one row per host, country (of the session's first event; 'unknown' without) and day.
CREATE EXTERNAL TABLE IF NOT EXISTS geo_daily (
    host STRING,
    country STRING,
    sessions BIGINT,
    events BIGINT,
    unique_ips BIGINT
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/geo_daily';

-- Grain: one row per host and day; errors are events with status >= 400.
CREATE EXTERNAL TABLE IF NOT EXISTS error_rates_daily (
    host STRING,
    events BIGINT,
    errors BIGINT,
    client_errors BIGINT,
    server_errors BIGINT,
    error_rate DOUBLE
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/error_rates_daily';

-- Grain: one row per host and minute (UTC) with events.
CREATE EXTERNAL TABLE IF NOT EXISTS events_per_minute (
    host STRING,
    minute TIMESTAMP,
    events BIGINT
)
PARTITIONED BY (dt STRING)
STORED AS PARQUET
LOCATION '${tables}/events_per_minute';
