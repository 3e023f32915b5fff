-- Sessions by country (of each session's first event), all hosts together, over all days.
SELECT country,
       sum(sessions) AS sessions,
       sum(events) AS events,
       round(sum(sessions) / sum(sum(sessions)) OVER (), 4) AS share_of_sessions
FROM geo_daily
GROUP BY country
ORDER BY sessions DESC, country;
