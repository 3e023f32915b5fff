-- The ten most viewed pages of each host over all days (ties by page).
SELECT host, page, views, sessions, page_rank
FROM (
    SELECT host,
           page,
           views,
           sessions,
           row_number() OVER (PARTITION BY host ORDER BY views DESC, page) AS page_rank
    FROM (
        SELECT host, page, sum(views) AS views, sum(sessions) AS sessions
        FROM page_views_daily
        GROUP BY host, page
    ) totals
) ranked
WHERE page_rank <= 10
ORDER BY host, page_rank;
