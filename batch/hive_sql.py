"""The SQL files of ``hive/``: variables filled in from settings, split into statements, run.

``hive/ddl/*.sql`` create the database and every table (in file order); they use ``${database}``
(``settings.hive_database``), ``${tables}`` (that database's directory in the Hive warehouse on
HDFS: the warehouse itself for ``default``, else ``<warehouse>/<database>.db``) and ``${raw_events}``
(the raw area), filled in from settings by the batch job and by ``websessions hive``.
``hive/queries/*.sql`` are plain HiveQL without variables over unqualified table names, runnable
with any HiveServer2 client connected to that database (``default`` unless configured);
``websessions hive`` switches to it first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from websessions.settings import REPO_ROOT, Settings

HIVE_DIR = REPO_ROOT / "hive"
DDL_DIR = HIVE_DIR / "ddl"
QUERIES_DIR = HIVE_DIR / "queries"
_VARIABLE = re.compile(r"\$\{(\w+)\}")


def raw_root(settings: Settings) -> str:
    """The raw area as a URL: ``raw_events_dir`` on HDFS, or as given when it has a scheme (``file://``)."""
    if "://" in settings.raw_events_dir:
        return settings.raw_events_dir.rstrip("/")
    return settings.hdfs_url + settings.raw_events_dir.rstrip("/")


def late_root(settings: Settings) -> str:
    """The late area next to the raw area (``websessions.lander.late_dir``)."""
    return raw_root(settings) + "_late"


def database(settings: Settings) -> str:
    """``settings.hive_database``, checked to be a plain identifier (it is spliced into SQL)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", settings.hive_database):
        raise ValueError(f"hive_database {settings.hive_database!r} is not a plain identifier")
    return settings.hive_database.lower()


def variables(settings: Settings) -> dict[str, str]:
    """The ``${name}`` values the DDL files use."""
    db = database(settings)
    warehouse = settings.hdfs_url + settings.warehouse_dir.rstrip("/")
    return {
        "database": db,
        "warehouse": warehouse,
        # Where the database's tables live, as Hive places them: the warehouse itself for "default".
        "tables": warehouse if db == "default" else f"{warehouse}/{db}.db",
        "raw_events": raw_root(settings),
    }


def render(sql: str, values: dict[str, str]) -> str:
    """Fill in ``${name}`` variables (any other ``$`` is left alone); an unknown name is an error."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"the SQL uses ${{{name}}}, which is not one of {sorted(values)}")
        return values[name]

    return _VARIABLE.sub(value, sql)


def split_statements(sql: str) -> list[str]:
    """Statements separated by ``;`` outside quotes, backticks and ``--`` comments; comments and
    blank statements dropped."""
    statements: list[str] = []
    current: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            current.append(ch)
            if ch == "\\" and quote != "`" and i + 1 < len(sql):
                current.append(sql[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
            current.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif ch == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def ddl_statements(settings: Settings) -> Iterator[str]:
    """Every DDL statement of ``hive/ddl`` in file order, variables filled in."""
    values = variables(settings)
    for path in sorted(DDL_DIR.glob("*.sql")):
        yield from split_statements(render(path.read_text(encoding="utf-8"), values))


def query_path(name: str) -> Path:
    """``hive/queries/<name>.sql``."""
    path = QUERIES_DIR / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in QUERIES_DIR.glob("*.sql")))
        raise FileNotFoundError(f"no query {name!r} in {QUERIES_DIR} (known: {known})")
    return path


def run_hiveserver2(
    settings: Settings, sql: str, on_result: Callable[[str, list[str], list[tuple]], None] | None = None
) -> list[tuple[list[str], list[tuple]]]:
    """Run the statements of ``sql`` (variables filled in) through HiveServer2, in order, in the
    database ``settings.hive_database`` when it exists.

    Returns ``(column names, rows)`` per statement (empty for statements without a result);
    ``on_result(statement, columns, rows)`` is called as each finishes.
    """
    from websessions.clients import hive

    results = []
    db = database(settings)
    with hive.connect(settings) as conn:
        cursor = conn.cursor()
        try:
            if db != "default":
                cursor.execute(f"SHOW DATABASES LIKE '{db}'")
                if cursor.fetchall():
                    cursor.execute(f"USE {db}")
            for statement in split_statements(render(sql, variables(settings))):
                cursor.execute(statement)
                columns = [d[0] for d in cursor.description] if cursor.description else []
                rows = [tuple(r) for r in cursor.fetchall()] if columns else []
                results.append((columns, rows))
                if on_result is not None:
                    on_result(statement, columns, rows)
        finally:
            cursor.close()
    return results


def short_column(name: str) -> str:
    """PyHive names result columns ``table.column`` for some statements: the column part."""
    return re.sub(r"^.*\.", "", name)
