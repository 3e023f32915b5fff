-- Sessions by agent class per host and day: people's and bots' sessions and the bots' share.
SELECT dt,
       host,
       sum(sessions) AS sessions,
       sum(CASE WHEN is_bot THEN sessions ELSE 0 END) AS bot_sessions,
       round(sum(CASE WHEN is_bot THEN sessions ELSE 0 END) / sum(sessions), 4) AS bot_share,
       sum(CASE WHEN device_class = 'mobile' THEN sessions ELSE 0 END) AS mobile_sessions,
       sum(CASE WHEN device_class = 'tablet' THEN sessions ELSE 0 END) AS tablet_sessions,
       sum(CASE WHEN device_class = 'desktop' THEN sessions ELSE 0 END) AS desktop_sessions
FROM agents_daily
GROUP BY dt, host
ORDER BY dt, host;
