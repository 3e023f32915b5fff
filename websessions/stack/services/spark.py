"""A Spark standalone cluster on one machine (cluster mode only: ``websessions stack up --cluster``).

``spark-master`` (RPC on ``spark_master_port``, web UI on ``spark_master_ui_port``) and one ``spark-worker``
(``spark_worker_cores`` cores, ``spark_worker_memory``; web UI on ``spark_worker_ui_port``), run through
``spark-class`` of the pinned ``pyspark`` package, as the compose deployment's ``spark-master`` and
``spark-worker`` run. ``spark-class`` ``exec``\\ s the JVM, so the pid file holds the JVM's pid. In cluster
mode ``spark_master`` is this master's URL, so the nightly DAG's Spark connection submits the batch here.
"""

from __future__ import annotations

from pathlib import Path

from websessions.stack.process import ProcessSpec
from websessions.stack.service import Service, get_json

MASTER_MAIN = "org.apache.spark.deploy.master.Master"
WORKER_MAIN = "org.apache.spark.deploy.worker.Worker"


def spark_class() -> Path:
    """``spark-class`` of the pinned ``pyspark`` package."""
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


class Spark(Service):
    name = "spark"
    process_names = ("spark-master", "spark-worker")
    start_timeout_s = 90.0

    def ports(self) -> list[int]:
        s = self.settings
        return [s.spark_master_port, s.spark_master_ui_port, s.spark_worker_ui_port]

    def _env(self) -> dict[str, str]:
        s = self.settings
        return {
            "SPARK_LOCAL_IP": s.bind_host,
            "SPARK_DAEMON_MEMORY": "256m",
            "SPARK_WORKER_DIR": str(self.data_dir / "work"),
            "SPARK_LOCAL_DIRS": str(self.data_dir / "tmp"),
            "SPARK_LOG_DIR": str(s.logs_dir),
            "SPARK_NO_DAEMONIZE": "1",
        }

    def prepare(self) -> None:
        for sub in ("work", "tmp"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)

    def processes(self) -> list[ProcessSpec]:
        s = self.settings
        master = [str(spark_class()), MASTER_MAIN, "--host", s.spark_master_host, "--port", str(s.spark_master_port),
                  "--webui-port", str(s.spark_master_ui_port)]  # fmt: skip
        worker = [str(spark_class()), WORKER_MAIN, "--host", s.bind_host, "--cores", str(s.spark_worker_cores),
                  "--memory", s.spark_worker_memory, "--webui-port", str(s.spark_worker_ui_port),
                  "--work-dir", str(self.data_dir / "work"), s.spark_cluster_master]  # fmt: skip
        return [
            ProcessSpec("spark-master", master, env=self._env(), cwd=self.data_dir),
            ProcessSpec("spark-worker", worker, env=self._env(), cwd=self.data_dir),
        ]

    def master_state(self) -> dict:
        """The master's ``/json/`` status: its state, the workers (with their states) and applications."""
        return get_json(f"{self.settings.spark_master_ui_url}/json/")

    def healthy(self) -> bool:
        state = self.master_state()
        alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
        return state.get("status") == "ALIVE" and len(alive) == 1

    def describe(self) -> str:
        s = self.settings
        worker = f"1 worker ({s.spark_worker_cores} core, {s.spark_worker_memory})"
        return f"{s.spark_cluster_master}; web UI {s.spark_master_ui_url}; {worker}"
