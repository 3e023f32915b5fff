-- The database of the batch layer's tables (settings.hive_database, "default" unless configured);
-- the statements after this one create their tables in it.
CREATE DATABASE IF NOT EXISTS ${database};
USE ${database};
