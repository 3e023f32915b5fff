-- A database made before sessions were partitioned by day holds `sessions` as a plain table (primary key
-- session_id). Its rows move into a partitioned `sessions` with the same columns, one partition per day
-- (`sessions_dYYYYMMDD`, as websessions.stores.postgres_sessions.partition_name names them). Views over the
-- old table (the report's) are dropped with it; 0002 creates them again. On a new database, or one already
-- partitioned, this does nothing.
DO $$
DECLARE
    day date;
    part text;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('sessions')) IS DISTINCT FROM 'r' THEN
        RETURN;
    END IF;
    RAISE NOTICE 'converting the unpartitioned sessions table into day partitions';
    ALTER TABLE sessions RENAME TO sessions_unpartitioned;
    ALTER TABLE sessions_unpartitioned DROP CONSTRAINT IF EXISTS sessions_pkey;
    DROP INDEX IF EXISTS sessions_dt_host_ip;
    CREATE TABLE sessions (LIKE sessions_unpartitioned INCLUDING DEFAULTS, PRIMARY KEY (session_id, dt))
        PARTITION BY LIST (dt);
    FOR day IN SELECT DISTINCT dt FROM sessions_unpartitioned ORDER BY dt LOOP
        part := 'sessions_d' || to_char(day, 'YYYYMMDD');
        EXECUTE format('CREATE TABLE %I PARTITION OF sessions FOR VALUES IN (%L)', part, day);
        EXECUTE format('INSERT INTO %I SELECT * FROM sessions_unpartitioned WHERE dt = %L', part, day);
    END LOOP;
    DROP TABLE sessions_unpartitioned CASCADE;
END $$;
