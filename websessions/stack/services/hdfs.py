"""HDFS: one NameNode and one DataNode, the store of the raw events and the Hive warehouse.

Two JVMs from one pinned jar set (``artifacts.JAR_SETS["hdfs"]``, the Hadoop version pyspark's
bundled client speaks), configured by ``core-site.xml`` / ``hdfs-site.xml`` rendered from the
settings into ``.stack/conf/hdfs`` (first on the classpath):

- ``hdfs-namenode``: RPC on ``hdfs_rpc_port`` (``fs.defaultFS``) and HTTP/WebHDFS on
  ``hdfs_http_port``; its metadata lives in ``.stack/data/hdfs/name``, formatted once.
- ``hdfs-datanode``: block storage in ``.stack/data/hdfs/data``. It advertises itself as
  ``hdfs_host``, so the WebHDFS redirects that clients follow for reads and writes point at an
  address they can reach.

Permissions are off (``dfs.permissions.enabled=false``): this is a single-user local stack where
the services run as the local OS user while clients act as ``hdfs_user``, so enforcing owners would
only get in the way. Files still record their owner (``hdfs_user`` for WebHDFS clients and the
Thrift server). Replication is 1 (one DataNode) and safe mode ends as soon as the blocks are
reported, without the 30 s extension a real cluster waits for.
"""

from __future__ import annotations

import shutil
import subprocess

from websessions.platform import bootstrap
from websessions.platform.site_xml import site_xml
from websessions.stack.jvm import java_argv
from websessions.stack.process import ProcessSpec
from websessions.stack.service import Service, StackError, summarize_output

LOG4J = """\
log4j.rootLogger=INFO, console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.out
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{1}: %m%n
log4j.logger.org.apache.hadoop.hdfs.StateChange=WARN
log4j.logger.BlockStateChange=WARN
log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=WARN
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=WARN
log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode=WARN
log4j.logger.org.apache.hadoop.hdfs.server.datanode.fsdataset.impl.FsDatasetImpl=WARN
log4j.logger.org.apache.hadoop.metrics2=WARN
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
log4j.logger.org.apache.hadoop.http.HttpServer2=WARN
log4j.logger.org.eclipse.jetty=WARN
log4j.logger.http.requests=WARN
"""

NAMENODE_MAIN = "org.apache.hadoop.hdfs.server.namenode.NameNode"
DATANODE_MAIN = "org.apache.hadoop.hdfs.server.datanode.DataNode"


class Hdfs(Service):
    name = "hdfs"
    process_names = ("hdfs-namenode", "hdfs-datanode")
    start_timeout_s = 120.0

    def ports(self) -> list[int]:
        s = self.settings
        return [s.hdfs_rpc_port, s.hdfs_http_port, s.hdfs_datanode_port, s.hdfs_datanode_http_port,
                s.hdfs_datanode_ipc_port]  # fmt: skip

    def core_site(self) -> dict[str, str]:
        s = self.settings
        return {
            "fs.defaultFS": s.hdfs_url,
            "hadoop.tmp.dir": str(self.data_dir / "tmp"),
            # The identity the web UI browses as (no login on a local stack).
            "hadoop.http.staticuser.user": s.hdfs_user,
            # The NameNode's and DataNode's HTTP servers (WebHDFS) close keep-alive connections idle this long.
            "hadoop.http.idle_timeout.ms": str(s.hdfs_http_idle_timeout_ms),
        }

    def hdfs_site(self) -> dict[str, str]:
        s = self.settings
        host = s.bind_host
        return {
            "dfs.replication": "1",
            "dfs.namenode.name.dir": (self.data_dir / "name").as_uri(),
            "dfs.datanode.data.dir": (self.data_dir / "data").as_uri(),
            "dfs.namenode.rpc-address": f"{s.hdfs_host}:{s.hdfs_rpc_port}",
            "dfs.namenode.rpc-bind-host": host,
            "dfs.namenode.http-address": f"{s.hdfs_host}:{s.hdfs_http_port}",
            "dfs.namenode.http-bind-host": host,
            "dfs.namenode.servicerpc-bind-host": host,
            "dfs.namenode.lifeline.rpc-bind-host": host,
            "dfs.datanode.address": f"{host}:{s.hdfs_datanode_port}",
            "dfs.datanode.http.address": f"{host}:{s.hdfs_datanode_http_port}",
            "dfs.datanode.ipc.address": f"{host}:{s.hdfs_datanode_ipc_port}",
            # The name WebHDFS redirects clients to (and the NameNode hands out for block reads).
            "dfs.datanode.hostname": s.hdfs_host,
            # 127.0.0.1 reverse-resolves to "localhost": do not reject the DataNode for that.
            "dfs.namenode.datanode.registration.ip-hostname-check": "false",
            "dfs.permissions.enabled": "false",
            "dfs.webhdfs.enabled": "true",
            # One DataNode: leave safe mode once its blocks are reported, and never try to find a
            # replacement DataNode for a failed append pipeline (there is none).
            "dfs.namenode.safemode.extension": "0",
            "dfs.client.block.write.replace-datanode-on-failure.enable": "false",
            "dfs.namenode.handler.count": "10",
            "dfs.datanode.handler.count": "5",
            "dfs.heartbeat.interval": "3",
        }

    def _java(self, main_class: str, args: list[str]) -> list[str]:
        return java_argv(
            self.settings, "hdfs", main_class, args, heap=self.settings.hdfs_heap, conf_dirs=[self.conf_dir],
            system_properties={
                "log4j.configuration": (self.conf_dir / "log4j.properties").as_uri(),
                "hadoop.log.dir": str(self.settings.logs_dir),
                "hadoop.home.dir": str(self.data_dir),
                "hadoop.security.logger": "WARN,console",
            },
        )  # fmt: skip

    def prepare(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "core-site.xml").write_text(site_xml(self.core_site()))
        (self.conf_dir / "hdfs-site.xml").write_text(site_xml(self.hdfs_site()))
        (self.conf_dir / "log4j.properties").write_text(LOG4J)
        # The web servers look their web apps up on the classpath; Maven's jars ship none (the
        # HTML UI is in the release tarball only), so empty ones serve WebHDFS and /jmx.
        for app in ("hdfs", "datanode"):
            (self.conf_dir / "webapps" / app).mkdir(parents=True, exist_ok=True)
        (self.data_dir / "tmp").mkdir(parents=True, exist_ok=True)
        if (self.data_dir / "name" / "current" / "VERSION").exists():
            return
        # A new namespace gets a new cluster id: blocks a DataNode kept from an older one are useless
        # and would stop it from registering, so they go too.
        for sub in ("name", "data"):
            shutil.rmtree(self.data_dir / sub, ignore_errors=True)
        cmd = self._java(NAMENODE_MAIN, ["-format", "-force", "-nonInteractive"])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=self.data_dir)
        if proc.returncode != 0:
            raise StackError(
                self.name, f"formatting the NameNode failed: {summarize_output(proc.stdout + proc.stderr)}"
            )

    def processes(self) -> list[ProcessSpec]:
        return [
            ProcessSpec("hdfs-namenode", self._java(NAMENODE_MAIN, []), cwd=self.data_dir),
            ProcessSpec("hdfs-datanode", self._java(DATANODE_MAIN, []), cwd=self.data_dir),
        ]

    def healthy(self) -> bool:
        """:data:`websessions.pipeline_state.PROBES`' HDFS check: WebHDFS answers, a DataNode with free space
        is live, and the NameNode left safe mode (raises otherwise)."""
        from websessions.pipeline_state import PROBES

        PROBES["hdfs"](self.settings)
        return True

    def after_start(self) -> None:
        bootstrap.create_hdfs_dirs(self.settings)

    def describe(self) -> str:
        s = self.settings
        return f"{s.hdfs_url}; WebHDFS {s.webhdfs_url} (user {s.hdfs_user})"
