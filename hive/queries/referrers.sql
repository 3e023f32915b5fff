-- Where sessions come from: referring host of each session's first event, per host, over all days.
SELECT host,
       referrer_host,
       sum(sessions) AS sessions,
       sum(events) AS events,
       round(sum(sessions) / sum(sum(sessions)) OVER (PARTITION BY host), 4) AS share_of_sessions
FROM referrers_daily
GROUP BY host, referrer_host
ORDER BY host, sessions DESC, referrer_host;
