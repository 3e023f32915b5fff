-- The Tech Creator hosts (*.techcreator.io): each host, and all of them together, per day.
SELECT dt,
       coalesce(host, '*.techcreator.io (together)') AS host,
       count(*) AS sessions,
       sum(events) AS events,
       round(avg(events), 3) AS avg_events_per_session,
       count(DISTINCT ip) AS unique_ips,
       round(avg(duration_s), 3) AS avg_duration_s
FROM web_sessions
WHERE host LIKE '%.techcreator.io'
GROUP BY dt, host GROUPING SETS ((dt, host), (dt))
ORDER BY dt, host;
