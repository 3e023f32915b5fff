-- The ten most frequent page-to-next-page steps within sessions, per host, over all days.
SELECT host, from_page, to_page, transitions, path_rank
FROM (
    SELECT host,
           from_page,
           to_page,
           transitions,
           row_number() OVER (PARTITION BY host ORDER BY transitions DESC, from_page, to_page) AS path_rank
    FROM (
        SELECT host, from_page, to_page, sum(transitions) AS transitions
        FROM navigation_paths_daily
        GROUP BY host, from_page, to_page
    ) totals
) ranked
WHERE path_rank <= 10
ORDER BY host, path_rank;
