"""A Flink standalone session cluster on one machine (cluster mode only: ``websessions stack up --cluster``).

One JobManager (``flink-jobmanager``: REST API and web UI on ``flink_rest_port``, RPC on ``flink_rpc_port``)
and ``flink_taskmanagers`` TaskManagers (``flink-taskmanager-N``) of one slot each, run from the jars of the
pinned ``apache-flink`` package by their Java main classes, as ``jobmanager.sh``/``taskmanager.sh`` would
run them: the JVM memory flags and the resolved memory options come from Flink's own ``BashJavaUtils`` for
the process sizes in settings. Checkpoints and savepoints go to HDFS (``flink_checkpoints_dir``), which
every TaskManager reaches, through the Hadoop client jars of the ``hdfs`` jar set on the classpath.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from websessions.platform.artifacts import classpath
from websessions.stack.jvm import java_binary, module_flags
from websessions.stack.process import ProcessSpec
from websessions.stack.service import Service, StackError, get_json, summarize_output

JOBMANAGER_MAIN = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint"
TASKMANAGER_MAIN = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
BASH_JAVA_UTILS = "org.apache.flink.runtime.util.bash.BashJavaUtils"
_RESULT = "BASH_JAVA_UTILS_EXEC_RESULT:"


def flink_home() -> Path:
    """The Flink distribution inside the pinned ``apache-flink`` package (``lib/``, ``bin/``, ``conf/``)."""
    import pyflink

    return Path(pyflink.__file__).parent


class Flink(Service):
    name = "flink"
    depends_on = ("hdfs",)
    start_timeout_s = 120.0

    @property
    def process_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("flink-jobmanager", *(f"flink-taskmanager-{i}" for i in range(1, self.settings.flink_taskmanagers + 1)))

    def ports(self) -> list[int]:
        return [self.settings.flink_rest_port, self.settings.flink_rpc_port]

    def flink_conf(self) -> dict[str, str]:
        """Flink's configuration (``config.yaml``, flat keys), from settings."""
        s = self.settings
        return {
            "jobmanager.rpc.address": s.flink_host,
            "jobmanager.rpc.port": str(s.flink_rpc_port),
            "jobmanager.bind-host": s.bind_host,
            "taskmanager.bind-host": s.bind_host,
            "taskmanager.host": s.flink_host,
            "rest.address": s.flink_host,
            "rest.bind-address": s.bind_host,
            "rest.port": str(s.flink_rest_port),
            "jobmanager.memory.process.size": s.flink_jobmanager_memory,
            "taskmanager.memory.process.size": s.flink_taskmanager_memory,
            # Small processes: less metaspace and managed memory than the defaults, so task heap remains.
            "taskmanager.memory.jvm-metaspace.size": "192m",
            "taskmanager.memory.managed.fraction": "0.2",
            "taskmanager.numberOfTaskSlots": "1",
            "parallelism.default": str(s.flink_parallelism),
            "state.checkpoints.dir": f"{s.hdfs_url}{s.flink_checkpoints_dir}",
            "state.savepoints.dir": f"{s.hdfs_url}{s.flink_checkpoints_dir}/savepoints",
            "jobmanager.execution.failover-strategy": "region",
            "io.tmp.dirs": str(self.data_dir / "tmp"),
            "web.tmpdir": str(self.data_dir / "web"),
            "blob.storage.directory": str(self.data_dir / "blobs"),
        }

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("tmp", "web", "blobs"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        lines = [f"{key}: {json.dumps(value)}" for key, value in self.flink_conf().items()]
        (self.conf_dir / "config.yaml").write_text("\n".join(lines) + "\n")
        log4j = (flink_home() / "conf" / "log4j-console.properties").read_text()
        (self.conf_dir / "log4j-console.properties").write_text(log4j)

    def _classpath(self) -> str:
        lib = sorted((flink_home() / "lib").glob("*.jar"), key=lambda jar: jar.name.startswith("flink-dist"))
        # Hadoop's client for hdfs:// checkpoints; Flink's log4j2 stays the only logging binding.
        hadoop = [
            jar for jar in classpath(self.settings, "hdfs") if not jar.name.startswith(("slf4j-", "reload4j", "log4j"))
        ]
        return ":".join(str(jar) for jar in [*lib, *hadoop])

    def _resource_params(self, command: str) -> tuple[list[str], list[str]]:
        """Flink's own JVM memory flags and resolved memory options for this config (as the scripts get them)."""
        home = flink_home()
        cp = f"{home / 'bin' / 'bash-java-utils.jar'}:{next((home / 'lib').glob('flink-dist-*.jar'))}"
        run = subprocess.run(
            [java_binary(), "-cp", cp, BASH_JAVA_UTILS, command, "--configDir", str(self.conf_dir)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        results = [line.removeprefix(_RESULT) for line in run.stdout.splitlines() if line.startswith(_RESULT)]
        if run.returncode != 0 or len(results) < 2:
            raise StackError(self.name, f"Flink's memory configuration: {summarize_output(run.stdout + run.stderr)}")
        return results[-2].split(), results[-1].split()

    def _argv(self, main: str, command: str, name: str, extra: list[str]) -> list[str]:
        jvm, dynamic = self._resource_params(command)
        log_props = [
            f"-Dlog4j.configurationFile=file:{self.conf_dir / 'log4j-console.properties'}",
            f"-Dlog.file={self.settings.logs_dir / (name + '.log')}",
        ]
        return [
            java_binary(), *jvm, "-XX:+UseSerialGC", "-Djava.net.preferIPv4Stack=true", *module_flags(),
            *log_props, "-cp", self._classpath(), main, "--configDir", str(self.conf_dir), *dynamic, *extra,
        ]  # fmt: skip

    def processes(self) -> list[ProcessSpec]:
        env = {"FLINK_CONF_DIR": str(self.conf_dir), "HADOOP_USER_NAME": self.settings.hdfs_user}
        jobmanager = self._argv(
            JOBMANAGER_MAIN, "GET_JM_RESOURCE_PARAMS", "flink-jobmanager", ["--executionMode", "cluster"]
        )
        specs = [ProcessSpec("flink-jobmanager", jobmanager, env=env, cwd=self.data_dir)]
        for name in self.process_names[1:]:
            resource_id = ["-D", f"taskmanager.resource-id={name}"]
            argv = self._argv(TASKMANAGER_MAIN, "GET_TM_RESOURCE_PARAMS", name, resource_id)
            specs.append(ProcessSpec(name, argv, env=env, cwd=self.data_dir))
        return specs

    def overview(self) -> dict:
        """The JobManager's ``/overview``: TaskManagers, slots, jobs."""
        return get_json(f"{self.settings.flink_rest_url}/overview")

    def healthy(self) -> bool:
        overview = self.overview()
        expected = self.settings.flink_taskmanagers
        return overview["taskmanagers"] == expected and overview["slots-total"] == expected

    def describe(self) -> str:
        s = self.settings
        return (
            f"web UI {s.flink_rest_url}; {s.flink_taskmanagers} TaskManagers x 1 slot;"
            f" checkpoints {s.hdfs_url}{s.flink_checkpoints_dir}"
        )
