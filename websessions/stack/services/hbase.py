"""HBase 2.6 standalone plus its Thrift 1 server, the serving store of the speed layer.

Two JVMs from one pinned jar set (see ``artifacts.JAR_SETS["hbase"]``):

- ``hbase-master``: ``HMaster start`` in standalone mode runs the master, one region server and
  ZooKeeper in one process, with data on the local file system under ``.stack/data/hbase``
  (``hbase.rootdir=file://...``; the local file system has no hflush/hsync capability, hence
  ``hbase.unsafe.stream.capability.enforce=false``).
- ``hbase-thrift``: the Thrift 1 gateway with the thread-pool server, buffered transport and
  binary protocol, which is what happybase speaks by default.

Stopping: a SIGTERM straight to the standalone JVM runs the master's and the region server's
shutdown hooks in no fixed order; when the master's runs first it takes the embedded ZooKeeper
down with it and the region server aborts (its regions come back from the WAL at the next start,
slowly and with errors in the log). So ``hbase-master`` runs under a small supervisor (this
module's ``__main__``): on SIGTERM it shuts the cluster down the way ``stop-hbase.sh`` does
(``HMaster stop --shutDownCluster``: the region server flushes and closes its regions, then the
master and ZooKeeper stop), and falls back to signalling the JVM if that does not finish in time.
The JVM dies with its supervisor (PR_SET_PDEATHSIG), so a forced stop leaves no orphan.

Everything listens on 127.0.0.1; the master and region server web UIs are off.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

from websessions.platform.site_xml import site_xml
from websessions.stack.jvm import java_argv
from websessions.stack.process import ProcessSpec, die_with_parent
from websessions.stack.service import Service, port_open

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{ISO8601} %p [%t] %c{1}: %m%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = WARN
logger.hbase.name = org.apache.hadoop.hbase
logger.hbase.level = INFO
logger.metrics.name = org.apache.hadoop.metrics2
logger.metrics.level = ERROR
logger.nativecode.name = org.apache.hadoop.util.NativeCodeLoader
logger.nativecode.level = ERROR
"""

MASTER_MAIN = "org.apache.hadoop.hbase.master.HMaster"
THRIFT_MAIN = "org.apache.hadoop.hbase.thrift.ThriftServer"
#: Seconds the supervisor gives each stage: the stop client, the cluster shutdown, the JVM's SIGTERM.
SHUTDOWN_GRACE_S = 20.0
STOP_CLIENT_HEAP = "128m"


class HBase(Service):
    name = "hbase"
    process_names = ("hbase-master", "hbase-thrift")
    # The supervisor's graceful stages run before the stack's SIGKILL (which the JVM follows).
    stop_timeout_s = 3 * SHUTDOWN_GRACE_S + 5
    start_timeout_s = 180.0

    def ports(self) -> list[int]:
        s = self.settings
        ports = [s.hbase_zookeeper_port, s.hbase_master_port, s.hbase_regionserver_port, s.hbase_thrift_port]
        if s.hbase_thrift_info_port > 0:
            ports.append(s.hbase_thrift_info_port)
        return ports

    def site_properties(self) -> dict[str, str]:
        """hbase-site.xml: standalone on the local file system, every socket on the bind host."""
        s = self.settings
        host = s.bind_host
        return {
            "hbase.cluster.distributed": "false",
            "hbase.rootdir": (self.data_dir / "hbase").as_uri(),
            "hbase.tmp.dir": str(self.data_dir / "tmp"),
            "hbase.unsafe.stream.capability.enforce": "false",
            # The async WAL needs HDFS; on the local file system use the classic one.
            "hbase.wal.provider": "filesystem",
            "hbase.zookeeper.quorum": host,
            "hbase.zookeeper.property.clientPort": str(s.hbase_zookeeper_port),
            "hbase.zookeeper.property.dataDir": str(self.data_dir / "zookeeper"),
            "hbase.master.port": str(s.hbase_master_port),
            "hbase.master.ipc.address": host,
            "hbase.master.hostname": host,
            "hbase.master.info.port": "-1",
            "hbase.regionserver.port": str(s.hbase_regionserver_port),
            "hbase.regionserver.ipc.address": host,
            "hbase.unsafe.regionserver.hostname": host,
            "hbase.regionserver.info.port": "-1",
            "hbase.regionserver.handler.count": "10",
            # One region server, in this JVM: stop waiting for others as soon as it has checked in.
            "hbase.master.wait.on.regionservers.mintostart": "1",
            "hbase.master.wait.on.regionservers.maxtostart": "1",
            "hbase.regionserver.msginterval": "1000",
            # ZooKeeper runs in this JVM: when it is gone (a SIGTERM'd JVM whose master hook ran first)
            # retrying it only delays the exit by ~20 s.
            "zookeeper.recovery.retry": "1",
            "zookeeper.recovery.retry.intervalmill": "200",
            # The Thrift 1 server as happybase expects it: thread pool, buffered, binary.
            "hbase.regionserver.thrift.server.type": "threadpool",
            "hbase.regionserver.thrift.framed": "false",
            "hbase.regionserver.thrift.compact": "false",
            "hbase.regionserver.thrift.ipaddress": host,
            "hbase.regionserver.thrift.port": str(s.hbase_thrift_port),
            "hbase.thrift.info.port": str(s.hbase_thrift_info_port if s.hbase_thrift_info_port > 0 else -1),
            "hbase.thrift.info.bindAddress": host,
            # A client connection that sends nothing for this long is closed (the speed writer reconnects).
            "hbase.thrift.server.socket.read.timeout": str(s.hbase_thrift_idle_timeout_ms),
        }

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "hbase-site.xml").write_text(site_xml(self.site_properties()))
        (self.conf_dir / "log4j2.properties").write_text(LOG4J2)
        for sub in ("hbase", "tmp", "zookeeper"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)

    def _java(self, main_class: str, args: list[str], heap: str) -> list[str]:
        return java_argv(
            self.settings, "hbase", main_class, args, heap=heap, conf_dirs=[self.conf_dir],
            system_properties={
                "log4j2.configurationFile": str(self.conf_dir / "log4j2.properties"),
                "hbase.log.dir": str(self.settings.logs_dir),
                "org.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible": "true",
                "zookeeper.admin.enableServer": "false",  # ZooKeeper's admin UI would take port 8080
            },
        )  # fmt: skip

    def processes(self) -> list[ProcessSpec]:
        s = self.settings
        master = self._java(MASTER_MAIN, ["start"], s.hbase_heap)
        stop = self._java(MASTER_MAIN, ["stop", "--shutDownCluster"], STOP_CLIENT_HEAP)
        supervisor = [sys.executable, "-m", __name__, json.dumps({"run": master, "stop": stop})]
        thrift_args = [
            "-p", str(s.hbase_thrift_port), "--bind", s.bind_host,
            "--infoport", str(s.hbase_thrift_info_port if s.hbase_thrift_info_port > 0 else -1),
            "-threadpool", "start",
        ]  # fmt: skip
        return [
            ProcessSpec("hbase-master", supervisor),
            ProcessSpec("hbase-thrift", self._java(THRIFT_MAIN, thrift_args, s.hbase_thrift_heap)),
        ]

    def healthy(self) -> bool:
        """:data:`websessions.pipeline_state.PROBES`' HBase check (table operations work), once Thrift listens."""
        from websessions.pipeline_state import PROBES

        s = self.settings
        if not port_open(s.hbase_host, s.hbase_thrift_port):
            return False  # still starting: spare the log a refused connection per probe
        PROBES["hbase"](s)
        return True

    def describe(self) -> str:
        s = self.settings
        return f"thrift {s.hbase_host}:{s.hbase_thrift_port} (happybase); zookeeper :{s.hbase_zookeeper_port}"


def supervise(run: list[str], stop: list[str], grace_s: float = SHUTDOWN_GRACE_S) -> int:
    """Run the standalone HMaster; on SIGTERM/SIGINT shut the cluster down cleanly, then return.

    The JVM gets its own process group, so the stack's group-wide SIGTERM reaches only this
    supervisor, which then decides how the JVM stops.
    """
    stop_requested = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_requested.set())
    master = subprocess.Popen(run, process_group=0, preexec_fn=die_with_parent)
    while master.poll() is None and not stop_requested.wait(0.5):
        pass
    if master.poll() is None:
        try:
            subprocess.run(stop, timeout=grace_s, process_group=0, preexec_fn=die_with_parent, check=False)
            master.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            master.terminate()  # the JVM's shutdown hooks; what they miss is replayed from the WAL
            try:
                master.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                master.kill()
    return master.wait()


if __name__ == "__main__":
    commands = json.loads(sys.argv[1])
    sys.exit(supervise(commands["run"], commands["stop"]))
