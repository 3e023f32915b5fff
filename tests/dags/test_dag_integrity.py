"""Every DAG in dags/ imports cleanly, fast, with no live service, and carries the house conventions.

Airflow 3.3's DagBag parses DAG files without a metadata database, so these tests only point
``AIRFLOW_HOME`` at a temporary directory (nothing is written outside it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from websessions.pipeline_state import PROBES
from websessions.settings import REPO_ROOT
from websessions.stack.registry import SERVICE_ORDER

DAGS_DIR = REPO_ROOT / "dags"
#: A DAG file is parsed every few seconds by the dag-processor: no heavy imports or work at top level.
MAX_PARSE_TIME = timedelta(seconds=2)
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))


@pytest.fixture(scope="module")
def dag_bag(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
        env.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        from airflow.dag_processing.dagbag import DagBag

        yield DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_file_imports_without_errors(dag_bag) -> None:
    assert dag_bag.import_errors == {}
    assert "stack_health" in dag_bag.dag_ids


def test_every_dag_file_parses_fast(dag_bag) -> None:
    slow = {stat.file: stat.duration for stat in dag_bag.dagbag_stats if stat.duration > MAX_PARSE_TIME}
    assert slow == {}


def test_every_dag_has_an_owner_tags_docs_and_retries(dag_bag) -> None:
    for dag_id, dag in dag_bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md (use doc_md=__doc__)"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def _dag_calls(path: Path) -> list[ast.Call]:
    """Calls of ``DAG(...)`` and ``@dag(...)`` in a DAG file."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("DAG", "dag"):
                calls.append(node)
    return calls


@pytest.mark.parametrize("path", DAG_FILES, ids=[path.name for path in DAG_FILES])
def test_every_dag_states_its_schedule_and_catchup(path: Path) -> None:
    calls = _dag_calls(path)
    assert calls, f"{path.name} defines no DAG"
    for call in calls:
        given = {keyword.arg for keyword in call.keywords}
        assert {"schedule", "catchup"} <= given, f"{path.name}:{call.lineno} leaves schedule or catchup implicit"


def test_stack_health_checks_every_service_unless_told_otherwise(dag_bag) -> None:
    dag = dag_bag.dags["stack_health"]
    # The DAG probes through pipeline_state, which covers every service the local stack runs.
    assert dag.params["services"] == list(PROBES)
    assert set(PROBES) == set(SERVICE_ORDER)
    assert dag.schedule is None
    assert dag.catchup is False
