-- The ten pages of each host with the slowest p95 load time per day (nearest-rank percentiles of the
-- events that carry load_time_ms; ties by page), after the host's own row (page NULL: all its pages).
SELECT dt, host, page, samples, p50_ms, p95_ms, p99_ms, slow_rank
FROM (
    SELECT dt,
           host,
           page,
           samples,
           p50_ms,
           p95_ms,
           p99_ms,
           CASE WHEN page IS NULL THEN 0
                ELSE row_number() OVER (PARTITION BY dt, host, page IS NULL ORDER BY p95_ms DESC, page) END AS slow_rank
    FROM load_times_daily
) ranked
WHERE slow_rank <= 10
ORDER BY dt, host, slow_rank;
