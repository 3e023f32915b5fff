-- The serving schema: the batch layer's sessions, daily statistics and analytics, the speed layer's sessions
-- for the report, the reconciliation of the two, and the report's views. Grains and contracts are in the
-- modules that write them: websessions.stores.postgres_sessions, websessions.stores.postgres_analytics,
-- websessions.report, websessions.reconcile.
-- `IF NOT EXISTS` and `ADD COLUMN IF NOT EXISTS`: a database made by the code before migrations existed
-- (which created these tables itself) is brought to this version unchanged, apart from columns it lacked.

-- One row per session; `dt` the UTC day it starts on. The column order is the COPY layout of a staged day
-- (websessions.stores.postgres_sessions.SESSION_COLUMNS; a test compares the two).
CREATE TABLE IF NOT EXISTS sessions (
    session_id text NOT NULL,
    dt date NOT NULL,
    host text NOT NULL,
    ip text NOT NULL,
    start_ts timestamptz NOT NULL,
    end_ts timestamptz NOT NULL,
    duration_s double precision NOT NULL,
    events integer NOT NULL,
    pages integer NOT NULL,
    first_url text NOT NULL,
    last_url text NOT NULL,
    referrer text,
    user_agent text,
    errors integer NOT NULL,
    geo jsonb,
    status text NOT NULL,
    PRIMARY KEY (session_id, dt)
) PARTITION BY LIST (dt);
CREATE INDEX IF NOT EXISTS sessions_dt_host_ip ON sessions (dt, host, ip);

-- One row per day and host.
CREATE TABLE IF NOT EXISTS domain_daily_stats (
    dt date NOT NULL,
    host text NOT NULL,
    sessions bigint NOT NULL,
    events bigint NOT NULL,
    avg_events_per_session double precision NOT NULL,
    max_events_per_session integer NOT NULL,
    median_events_per_session double precision NOT NULL,
    unique_ips bigint NOT NULL,
    avg_duration_s double precision NOT NULL,
    median_duration_s double precision NOT NULL,
    bounce_rate double precision NOT NULL,
    PRIMARY KEY (dt, host)
);
ALTER TABLE domain_daily_stats ADD COLUMN IF NOT EXISTS bot_sessions bigint NOT NULL DEFAULT 0;
ALTER TABLE domain_daily_stats ADD COLUMN IF NOT EXISTS bot_share double precision NOT NULL DEFAULT 0;

-- The analytics tables (websessions.analytics defines their rows).
CREATE TABLE IF NOT EXISTS agents_daily (
    dt date NOT NULL, host text NOT NULL, user_agent text NOT NULL, browser_family text NOT NULL,
    os_family text NOT NULL, device_class text NOT NULL, is_bot boolean NOT NULL, sessions bigint NOT NULL,
    events bigint NOT NULL, PRIMARY KEY (dt, host, user_agent)
);
CREATE TABLE IF NOT EXISTS event_types_daily (
    dt date NOT NULL, host text NOT NULL, event_type text NOT NULL, events bigint NOT NULL, sessions bigint NOT NULL,
    PRIMARY KEY (dt, host, event_type)
);
CREATE TABLE IF NOT EXISTS load_times_daily (
    dt date NOT NULL, host text NOT NULL, page text, samples bigint NOT NULL, p50_ms double precision NOT NULL,
    p95_ms double precision NOT NULL, p99_ms double precision NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS load_times_daily_key ON load_times_daily (dt, host, page) NULLS NOT DISTINCT;
CREATE TABLE IF NOT EXISTS hourly_trends (
    dt date NOT NULL, host text NOT NULL, hour timestamptz NOT NULL, events bigint NOT NULL,
    sessions_started bigint NOT NULL, active_users bigint NOT NULL, errors bigint NOT NULL,
    PRIMARY KEY (dt, host, hour)
);
CREATE TABLE IF NOT EXISTS page_covisits_daily (
    dt date NOT NULL, host text NOT NULL, page text NOT NULL, rank integer NOT NULL, also_viewed text NOT NULL,
    sessions bigint NOT NULL, PRIMARY KEY (dt, host, page, rank)
);

-- The speed layer's sessions, refreshed from HBase for the days the report serves from it.
CREATE TABLE IF NOT EXISTS speed_sessions (
    session_id text PRIMARY KEY,
    dt date NOT NULL,
    host text NOT NULL,
    ip text NOT NULL,
    start_ts timestamptz NOT NULL,
    end_ts timestamptz NOT NULL,
    duration_s double precision NOT NULL,
    events integer NOT NULL,
    status text NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS speed_sessions_dt ON speed_sessions (dt);

-- Speed vs batch: one row per day and host, and one per session the layers disagree on.
CREATE TABLE IF NOT EXISTS reconciliation (
    dt date NOT NULL,
    host text NOT NULL,
    matched integer NOT NULL,
    speed_only integer NOT NULL,
    batch_only integer NOT NULL,
    event_count_diffs integer NOT NULL,
    speed_events bigint NOT NULL,
    batch_events bigint NOT NULL,
    mismatch_ratio double precision NOT NULL,
    passed boolean NOT NULL,
    reconciled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dt, host)
);
ALTER TABLE reconciliation ADD COLUMN IF NOT EXISTS causes jsonb NOT NULL DEFAULT '{}';
CREATE TABLE IF NOT EXISTS reconciliation_differences (
    dt date NOT NULL,
    host text NOT NULL,
    ip text NOT NULL,
    session_id text NOT NULL,
    kind text NOT NULL,
    cause text NOT NULL,
    speed_events integer,
    batch_events integer
);
CREATE INDEX IF NOT EXISTS reconciliation_differences_dt ON reconciliation_differences (dt, host);

-- The report: per day, the batch layer once the day reconciled, else the speed layer (websessions.report).
CREATE OR REPLACE VIEW batch_days AS
SELECT dt FROM reconciliation GROUP BY dt HAVING bool_and(passed);

CREATE OR REPLACE VIEW report_sessions AS
SELECT s.dt, s.host, s.ip, s.events, s.duration_s, 'batch'::text AS layer, coalesce(a.is_bot, false) AS is_bot
FROM sessions s
LEFT JOIN agents_daily a ON a.dt = s.dt AND a.host = s.host AND a.user_agent = coalesce(s.user_agent, '')
WHERE s.dt IN (SELECT dt FROM batch_days)
UNION ALL
SELECT p.dt, p.host, p.ip, p.events, p.duration_s, 'speed'::text AS layer, false AS is_bot
FROM speed_sessions p
WHERE p.dt NOT IN (SELECT dt FROM batch_days);

CREATE OR REPLACE VIEW domain_report AS
SELECT dt, host, layer,
       count(*) AS sessions,
       sum(events) AS events,
       avg(events)::double precision AS avg_events_per_session,
       max(events) AS max_events_per_session,
       avg(duration_s)::double precision AS avg_duration_s,
       count(DISTINCT ip) AS unique_ips,
       avg(CASE WHEN events = 1 THEN 1.0 ELSE 0.0 END)::double precision AS bounce_rate
FROM report_sessions
GROUP BY dt, host, layer;
