"""PostgreSQL from Debian's packages, as the stack's own cluster under ``.stack/data/postgres``.

The stack never touches the system cluster: it runs its own ``postgres`` server on
127.0.0.1:<postgres_port>. The cluster superuser ``postgres`` is reachable only over the stack's
Unix socket directory; the product role ``websessions`` (password from the secrets file) owns the
product, Airflow and Hive-metastore databases and connects over TCP with scram-sha-256.
PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from websessions.stack.process import ProcessSpec
from websessions.stack.service import Service, StackError

SUPERUSER = "postgres"


def find_bin_dir(configured: str) -> Path:
    """The PostgreSQL server binaries: the configured dir, else the newest under /usr/lib/postgresql."""
    if configured:
        return Path(configured)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if not candidates:
        raise StackError("postgres", "PostgreSQL server is not installed (apt-get install postgresql)")
    return candidates[-1].parent


class Postgres(Service):
    name = "postgres"
    process_names = ("postgres",)
    stop_signal = signal.SIGINT  # PostgreSQL's "fast" shutdown
    start_timeout_s = 60.0

    @property
    def socket_dir(self) -> Path:
        return self.settings.run_dir / "postgres-socket"

    @property
    def run_as(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def ports(self) -> list[int]:
        return [self.settings.postgres_port]

    def _chown(self, path: Path) -> None:
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            os.chown(path, user.pw_uid, user.pw_gid)

    def prepare(self) -> None:
        bin_dir = find_bin_dir(self.settings.postgres_bin_dir)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._chown(self.socket_dir)
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-initialised cluster from an interrupted first run
        self.data_dir.mkdir(parents=True)
        self._chown(self.data_dir)
        cmd = [
            str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8",
            "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, user=self.run_as)
        if proc.returncode != 0:
            raise StackError(self.name, f"initdb failed: {proc.stderr.strip()[-300:]}")

    def processes(self) -> list[ProcessSpec]:
        s = self.settings
        bin_dir = find_bin_dir(s.postgres_bin_dir)
        argv = [
            str(bin_dir / "postgres"), "-D", str(self.data_dir),
            "-c", f"listen_addresses={s.bind_host}", "-c", f"port={s.postgres_port}",
            "-c", f"unix_socket_directories={self.socket_dir}",
            "-c", "shared_buffers=128MB", "-c", "max_connections=200", "-c", "fsync=on",
        ]  # fmt: skip
        return [ProcessSpec("postgres", argv, user=self.run_as)]

    def superuser_connection(self, db: str = "postgres"):
        import psycopg2

        conn = psycopg2.connect(host=str(self.socket_dir), port=self.settings.postgres_port, user=SUPERUSER, dbname=db)
        conn.autocommit = True
        return conn

    def healthy(self) -> bool:
        with self.superuser_connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone() == (1,)

    def after_start(self) -> None:
        from psycopg2 import sql

        s = self.settings
        conn = self.superuser_connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (s.postgres_user,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                role = sql.SQL(verb + " ROLE {} LOGIN CREATEDB PASSWORD %s")
                cur.execute(role.format(sql.Identifier(s.postgres_user)), (s.postgres_password,))
                for db in (s.postgres_db, s.airflow_db, s.metastore_db):
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                    if not cur.fetchone():
                        cur.execute(
                            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                                sql.Identifier(db), sql.Identifier(s.postgres_user)
                            )
                        )
        finally:
            conn.close()
        from websessions.db_migrations import migrate

        migrate(s)  # the serving schema (postgres/migrations); logs each migration it applies

    def describe(self) -> str:
        s = self.settings
        return f"postgresql://{s.postgres_user}@{s.postgres_host}:{s.postgres_port}/{s.postgres_db}"
