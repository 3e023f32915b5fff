"""Pinned JVM artifacts, resolved from Maven Central into a cache outside the repository.

Each jar set is a list of pinned Maven coordinates (plus exclusions). The first use writes a small
pom and runs Maven once (its progress shown); the resolved classpath is stored next to the local
repository, so later runs neither call Maven nor need the network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from websessions.settings import Settings


@dataclass(frozen=True)
class JarSet:
    """A named set of pinned artifacts resolved together into one classpath."""

    name: str
    artifacts: tuple[str, ...]  # group:artifact:version
    exclusions: tuple[str, ...] = field(default=())  # group:artifact, applied to every artifact

    def digest(self) -> str:
        text = "\n".join((*self.artifacts, "--", *self.exclusions))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


LOG4J = "2.24.3"
KAFKA_VERSION = "4.1.1"
HADOOP_VERSION = "3.5.0"  # the Hadoop client that pyspark 4.3.0 bundles (hadoop-client-api-3.5.0)
HBASE_VERSION = "2.6.4-hadoop3"  # the newest 2.6 build for Hadoop 3 that the registry serves
# The registry serves no hbase-thrift build for Hadoop 3 (nor any 2.6.x after 2.6.1): the module's
# classes are the same for both Hadoop lines, and every method and field 2.6.1 links to resolves
# against the 2.6.4-hadoop3 jars (checked when pinning), so its jar joins the server's classpath.
HBASE_THRIFT_VERSION = "2.6.1"
POSTGRES_JDBC_VERSION = "42.7.7"
FLINK_KAFKA = "5.0.0-2.2"  # connector release 5.0.0 built for Flink 2.2 (apache-flink==2.2.1)

JAR_SETS: dict[str, JarSet] = {
    "kafka": JarSet(
        "kafka",
        (
            f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
            f"org.apache.logging.log4j:log4j-core:{LOG4J}",
            f"org.apache.logging.log4j:log4j-slf4j2-impl:{LOG4J}",
            "org.slf4j:slf4j-api:2.0.17",  # Kafka's own 1.7 API would leave log4j's binding unused
        ),
    ),
    "postgres-jdbc": JarSet("postgres-jdbc", (f"org.postgresql:postgresql:{POSTGRES_JDBC_VERSION}",)),
    # Loaded by the in-process PyFlink job (pipeline.jars); Flink 2.2's Kafka SQL connector, shaded.
    "flink-connectors": JarSet("flink-connectors", (f"org.apache.flink:flink-sql-connector-kafka:{FLINK_KAFKA}",)),
    # The speed job's HBase sink (streaming/java-hbase, websessions.speed.hbase): the shaded client of
    # the server's version (Hadoop, protobuf, netty, Guava relocated under org.apache.hadoop.hbase.shaded),
    # so nothing it brings can clash with Flink's classes. Its unshaded dependencies are logging APIs that
    # Flink already provides (slf4j, commons-logging, javax.activation) and annotations: excluded. It keeps
    # Hadoop's own classes unrelocated (org.apache.hadoop.conf, .fs, ...), which Flink's jars do not have.
    "hbase-client": JarSet(
        "hbase-client",
        (f"org.apache.hbase:hbase-shaded-client:{HBASE_VERSION}",),
        exclusions=(
            "org.slf4j:slf4j-api",
            "commons-logging:commons-logging",
            "org.apache.yetus:audience-annotations",
            "com.github.stephenc.findbugs:findbugs-annotations",
            "org.apache.logging.log4j:log4j-api",
            "org.apache.logging.log4j:log4j-core",
            "org.apache.logging.log4j:log4j-slf4j-impl",
            "org.apache.logging.log4j:log4j-1.2-api",
            "jakarta.activation:jakarta.activation-api",  # flink-dist has javax.activation
        ),
    ),
    # HBase standalone (HMaster = master + region server + ZooKeeper in one JVM) and its Thrift 1
    # server, one classpath. Hadoop 2 jars that hbase-thrift 2.6.1 would pull in, MapReduce/YARN and
    # the log4j 1 bindings are excluded: log4j2 with its slf4j 1.7 binding does all the logging.
    "hbase": JarSet(
        "hbase",
        (
            f"org.apache.hbase:hbase-server:{HBASE_VERSION}",
            f"org.apache.hbase:hbase-thrift:{HBASE_THRIFT_VERSION}",
            f"org.apache.logging.log4j:log4j-core:{LOG4J}",
            f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J}",
            f"org.apache.logging.log4j:log4j-1.2-api:{LOG4J}",
        ),
        exclusions=(
            "org.apache.hadoop:hadoop-client",
            "org.apache.hadoop:hadoop-mapreduce-client-core",
            "org.apache.hadoop:hadoop-distcp",
            "org.apache.hadoop:hadoop-yarn-api",
            "org.apache.hadoop:hadoop-yarn-client",
            "org.apache.hadoop:hadoop-yarn-common",
            "io.netty:netty-all",
            "ch.qos.reload4j:reload4j",
            "org.slf4j:slf4j-reload4j",
            "org.slf4j:slf4j-log4j12",
            "log4j:log4j",
            "org.glassfish.web:javax.servlet.jsp",
            "org.glassfish:javax.el",
            "com.jcraft:jsch",
        ),
    ),
    # HDFS NameNode + DataNode. hadoop-hdfs marks hadoop-common, -hdfs-client and -auth "provided", so
    # they are listed; logging is Hadoop's own reload4j (log4j 1 API) through its slf4j binding.
    "hdfs": JarSet(
        "hdfs",
        (
            f"org.apache.hadoop:hadoop-hdfs:{HADOOP_VERSION}",
            f"org.apache.hadoop:hadoop-hdfs-client:{HADOOP_VERSION}",
            f"org.apache.hadoop:hadoop-common:{HADOOP_VERSION}",
            f"org.apache.hadoop:hadoop-auth:{HADOOP_VERSION}",
            "org.slf4j:slf4j-reload4j:1.7.36",
        ),
    ),
}


def _pom(jar_set: JarSet) -> str:
    exclusions = "".join(
        f"<exclusion><groupId>{escape(g)}</groupId><artifactId>{escape(a)}</artifactId></exclusion>"
        for g, a in (e.split(":") for e in jar_set.exclusions)
    )
    deps = "".join(
        f"<dependency><groupId>{escape(g)}</groupId><artifactId>{escape(a)}</artifactId>"
        f"<version>{escape(v)}</version><exclusions>{exclusions}</exclusions></dependency>"
        for g, a, v in (c.split(":") for c in jar_set.artifacts)
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<groupId>websessions.platform</groupId><artifactId>{escape(jar_set.name)}</artifactId>"
        f"<version>1</version><packaging>pom</packaging><dependencies>{deps}</dependencies></project>"
    )


class ArtifactError(RuntimeError):
    pass


def classpath(settings: Settings, name: str, echo=print) -> list[Path]:
    """The jars of jar set ``name``, resolving them with Maven on first use."""
    jar_set = JAR_SETS[name]
    out = settings.cache_dir / "classpaths" / f"{name}-{jar_set.digest()}.txt"
    if not out.exists():
        _resolve(settings, jar_set, out, echo)
    return [Path(p) for p in out.read_text().strip().split(":") if p]


def _resolve(settings: Settings, jar_set: JarSet, out: Path, echo) -> None:
    if shutil.which("mvn") is None:
        raise ArtifactError("Maven (mvn) is not installed: run `make demo` (it installs it)")
    from rich.console import Console

    repo = settings.cache_dir / "m2"
    out.parent.mkdir(parents=True, exist_ok=True)
    echo(f"resolving {jar_set.name} jars ({len(jar_set.artifacts)} pinned artifacts) into {repo}")
    with tempfile.TemporaryDirectory() as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(_pom(jar_set))
        partial = Path(tmp) / "cp.txt"
        cmd = [
            "mvn", "-B", "-f", str(pom), f"-Dmaven.repo.local={repo}",
            "dependency:build-classpath", "-Dmdep.includeScope=runtime", f"-Dmdep.outputFile={partial}",
        ]  # fmt: skip
        output: list[str] = []
        downloaded = 0
        with Console(stderr=True).status(f"{jar_set.name}: resolving") as status:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                output.append(line)
                if "Downloaded from" in line:  # "[INFO] Downloaded from <repo>: <url> (size at speed)"
                    downloaded += 1
                    name = line.split("/")[-1].split(" ")[0]
                    status.update(f"{jar_set.name}: {downloaded} files downloaded ({name})")
            proc.wait()
        if proc.returncode != 0 or not partial.exists():
            errors = [line.strip() for line in output if "[ERROR]" in line][:2]
            raise ArtifactError(f"downloading the {jar_set.name} jars failed: {' '.join(errors)[:400]}")
        jars = [p for p in partial.read_text().strip().split(":") if p]
        echo(f"resolved {jar_set.name}: {len(jars)} jars ({downloaded} files downloaded)")
        out.write_text(":".join(jars))


def fetch_all(settings: Settings, echo=print) -> None:
    """Resolve every jar set (``make jars``), so later starts work offline."""
    for name in JAR_SETS:
        jars = classpath(settings, name, echo)
        echo(f"{name}: {len(jars)} jars cached")
