-- Section engagement (first path segment) per host over all days.
SELECT host,
       section,
       sum(views) AS views,
       sum(sessions) AS sessions,
       round(sum(views) / sum(sessions), 3) AS views_per_session
FROM section_engagement_daily
GROUP BY host, section
ORDER BY host, views DESC, section;
