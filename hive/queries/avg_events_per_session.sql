-- Average events per session, per host and day (sessions counted on the day they start).
SELECT dt,
       host,
       count(*) AS sessions,
       sum(events) AS events,
       round(avg(events), 3) AS avg_events_per_session
FROM web_sessions
GROUP BY dt, host
ORDER BY dt, host;
