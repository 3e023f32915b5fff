"""Static checks of the images (docker/*/Dockerfile) and of the scripts they run.

The scripts are run for real where they need no service: the HBase entrypoint renders its site file,
the Airflow mapping prints the environment a container evaluates, the jar manifest lists a jar set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from tests.docker.compose_files import (
    DOCKER_DIR,
    REPO,
    builds,
    compose,
    copy_sources,
    dockerfile_instructions,
    dockerignore_rules,
    ignored,
    image_of,
    load_script,
    resolve,
    services,
    split_image,
)
from websessions.platform import artifacts
from websessions.settings import SECRET_FIELDS, load_settings
from websessions.stack.jvm import module_flags

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PINS = dict(dep.split("==", 1) for dep in PYPROJECT["project"]["dependencies"] if "==" in dep)
DOCKERFILES = sorted(DOCKER_DIR.rglob("Dockerfile"))
SHARED_ENV = {k: resolve(v) for k, v in compose()["x-websessions-env"].items()}
DUMMY_SECRETS = {"WEBSESSIONS_" + name.upper(): "not-a-secret" for name in SECRET_FIELDS}


def from_images(dockerfile: Path) -> list[str]:
    """The external images of a Dockerfile's FROM lines (earlier stages excluded)."""
    stages: set[str] = set()
    images = []
    for instruction in dockerfile_instructions(dockerfile):
        if instruction.keyword != "FROM":
            continue
        tokens = [t for t in instruction.args.split() if not t.startswith("--platform")]
        if len(tokens) == 3 and tokens[1].upper() == "AS":
            stages.add(tokens[2])
        if tokens[0] not in stages:
            images.append(tokens[0])
    return images


def resolve_jars_calls(dockerfile: Path) -> list[list[str]]:
    """The jar-set arguments of every ``resolve_jars.py`` invocation in RUN instructions."""
    calls = []
    for instruction in dockerfile_instructions(dockerfile):
        if instruction.keyword == "RUN" and "docker/resolve_jars.py" in instruction.args:
            names = []
            for token in instruction.args.split("docker/resolve_jars.py", 1)[1].split():
                if token.startswith("-") or token == "&&":
                    break
                names.append(token)
            calls.append(names)
    return calls


def test_every_dockerfile_is_built_by_the_compose_file() -> None:
    assert {dockerfile for _, dockerfile in builds().values()} == set(DOCKERFILES)


def test_dockerfile_base_images_are_pinned() -> None:
    for dockerfile in DOCKERFILES:
        for image in from_images(dockerfile):
            _, tag = split_image(image)
            assert tag and tag != "latest" and "$" not in image, f"{dockerfile}: FROM {image} is not pinned"
            assert re.search(r"\d+\.\d+", tag), f"{dockerfile}: FROM {image} names no version"


def test_copy_sources_exist_in_the_build_context_and_are_not_ignored() -> None:
    checked = 0
    for context, dockerfile in builds().values():
        rules = dockerignore_rules(context, dockerfile)
        for instruction in dockerfile_instructions(dockerfile):
            if instruction.keyword not in ("COPY", "ADD"):
                continue
            sources, stage = copy_sources(instruction)
            if stage is not None:
                continue
            for source in sources:
                assert not source.startswith(("http://", "https://")), f"{dockerfile}: ADD from a URL"
                assert list(context.glob(source.rstrip("/"))), f"{dockerfile}: COPY {source}: not in {context}"
                assert not ignored(source, rules), f"{dockerfile}: COPY {source} is excluded by its dockerignore"
                checked += 1
    assert checked >= 15


def test_build_contexts_send_no_virtualenv_data_or_git() -> None:
    for context, dockerfile in builds().values():
        rules = dockerignore_rules(context, dockerfile)
        if context == REPO:
            for path in (".venv", ".stack", ".git", ".env", "websessions/__pycache__/settings.cpython-311.pyc"):
                assert ignored(path, rules), f"{dockerfile}: the build context would include {path}"


def test_image_versions_follow_the_project_pins() -> None:
    s = services()
    assert split_image(image_of(s["kafka"]))[1] == artifacts.KAFKA_VERSION
    hadoop_tag = split_image(image_of(s["namenode"]))[1]
    assert hadoop_tag.split(".")[:2] == artifacts.HADOOP_VERSION.split(".")[:2]
    assert image_of(s["datanode"]) == image_of(s["namenode"]) == image_of(s["datanode-extra"])
    assert split_image(image_of(s["hbase"]))[1] == artifacts.HBASE_VERSION
    hbase_args = [i.args for i in dockerfile_instructions(DOCKER_DIR / "hbase" / "Dockerfile") if i.keyword == "ARG"]
    assert f"HBASE_VERSION={artifacts.HBASE_VERSION}" in hbase_args

    flink = PINS["apache-flink"]
    assert split_image(image_of(s["jobmanager"]))[1] == flink
    flink_from = from_images(DOCKER_DIR / "flink" / "Dockerfile")
    assert f"flink:{flink}-scala_2.12-java17" in flink_from
    assert f'"apache-flink=={flink}"' in (DOCKER_DIR / "flink" / "Dockerfile").read_text()

    airflow_from = from_images(DOCKER_DIR / "websessions" / "Dockerfile")
    assert f"apache/airflow:slim-{PINS['apache-airflow']}-python3.11" in airflow_from
    assert split_image(image_of(s["airflow-scheduler"]))[1] == PYPROJECT["project"]["version"]
    # Spark runs from the pinned pyspark wheel, in the project image: the driver's own version.
    assert image_of(s["spark-master"]) == image_of(s["spark-worker"]) == image_of(s["airflow-scheduler"])
    for dockerfile in DOCKERFILES:
        for image in from_images(dockerfile):
            if image.startswith("python:"):
                assert split_image(image)[1].startswith("3.11."), f"{dockerfile}: {image}: the project needs 3.11"


def test_flink_image_loads_exactly_the_flink_connectors_jar_set() -> None:
    dockerfile = DOCKER_DIR / "flink" / "Dockerfile"
    assert resolve_jars_calls(dockerfile) == [["flink-connectors"]]
    copies = [i.args for i in dockerfile_instructions(dockerfile) if i.keyword == "COPY" and "--from=jars" in i.args]
    assert "--from=jars /jars/*.jar /opt/flink/lib/" in copies
    resolve_jars = load_script("resolve_jars.py")
    jar_set = artifacts.JAR_SETS["flink-connectors"]
    jars = {"flink-connectors": [Path(f"/m2/{c.split(':')[1]}-{c.split(':')[2]}.jar") for c in jar_set.artifacts]}
    manifest = resolve_jars.manifest_lines(["flink-connectors"], jars)
    assert [line.removeprefix("artifact ") for line in manifest if line.startswith("artifact ")] == list(
        jar_set.artifacts
    )


def test_flink_image_puts_the_session_operator_into_flinks_lib(tmp_path: Path) -> None:
    """The image's build step compiles the operator as the local stack does (run here for real)."""
    dockerfile = DOCKER_DIR / "flink" / "Dockerfile"
    runs = [i.args for i in dockerfile_instructions(dockerfile) if i.keyword == "RUN"]
    assert "python docker/build_operator.py --copy-to /operator" in runs
    copies = [i.args for i in dockerfile_instructions(dockerfile) if i.keyword == "COPY"]
    assert "--from=operator /operator/*.jar /opt/flink/lib/" in copies
    from streaming import sessions_job

    build_operator = load_script("build_operator.py")
    assert build_operator.main(["--copy-to", str(tmp_path)]) == 0
    expected = sessions_job.operator_jar(load_settings(create_secrets=False))
    assert [p.name for p in tmp_path.glob("*.jar")] == [expected.name]
    with zipfile.ZipFile(tmp_path / expected.name) as jar:
        assert "websessions/speed/SessionFunction.class" in jar.namelist()


def test_project_image_resolves_the_jdbc_driver_for_hive_and_the_executors() -> None:
    dockerfile = DOCKER_DIR / "websessions" / "Dockerfile"
    assert resolve_jars_calls(dockerfile) == [["postgres-jdbc"]]
    text = dockerfile.read_text()
    # The cache is copied to the path it was resolved at, so classpath() reads it without Maven.
    assert "WEBSESSIONS_CACHE_DIR=/opt/websessions-cache" in text
    assert "COPY --from=jars /opt/websessions-cache /opt/websessions-cache" in text


def test_resolve_jars_copies_the_cached_jar_set(tmp_path: Path) -> None:
    """Runs the build step for real against this machine's jar cache (resolved with Maven first if need be)."""
    settings = load_settings(create_secrets=False)
    jar_set = artifacts.JAR_SETS["flink-connectors"]
    artifacts.classpath(settings, "flink-connectors")  # the pinned set, as `make jars` resolves it
    cached = settings.cache_dir / "classpaths" / f"flink-connectors-{jar_set.digest()}.txt"
    resolve_jars = load_script("resolve_jars.py")
    out = tmp_path / "jars"
    assert resolve_jars.main(["flink-connectors", "--copy-to", str(out), "--manifest", str(out / "m.txt")]) == 0
    expected = {Path(p).name for p in cached.read_text().split(":") if p}
    assert {p.name for p in out.glob("*.jar")} == expected
    assert f"artifact {jar_set.artifacts[0]}" in (out / "m.txt").read_text()


# --- the HBase image --------------------------------------------------------------------------------------


def test_hbase_entrypoint_uses_the_local_stacks_jdk17_flags() -> None:
    text = (DOCKER_DIR / "hbase" / "entrypoint.sh").read_text()
    block = text.split("JDK17_OPTS=(", 1)[1].split(")", 1)[0].split()
    assert block == [*module_flags(), "-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true"]


def test_hbase_entrypoint_renders_the_site_file_from_the_settings(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HBASE_CONF_DIR": str(tmp_path),
        **SHARED_ENV,
        "HBASE_ZOOKEEPER_QUORUM": "zookeeper",
        "DFS_REPLICATION": "2",
    }
    script = DOCKER_DIR / "hbase" / "entrypoint.sh"
    result = subprocess.run(["bash", str(script), "true"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    properties = ET.parse(tmp_path / "hbase-site.xml").getroot().iter("property")
    site = {p.findtext("name"): p.findtext("value") for p in properties}
    assert site["hbase.cluster.distributed"] == "true"
    assert site["hbase.rootdir"] == "hdfs://namenode:8020/hbase"
    assert site["hbase.zookeeper.quorum"] == "zookeeper" and site["hbase.zookeeper.property.clientPort"] == "2181"
    assert site["hbase.regionserver.thrift.port"] == "9090" and site["hbase.thrift.info.port"] == "9095"
    assert (site["hbase.master.port"], site["hbase.regionserver.port"]) == ("16000", "16020")
    # Thrift 1 as happybase speaks it: threadpool server, buffered transport, binary protocol.
    assert site["hbase.regionserver.thrift.server.type"] == "threadpool"
    assert site["hbase.regionserver.thrift.framed"] == site["hbase.regionserver.thrift.compact"] == "false"
    assert site["dfs.replication"] == "2"
    bare = {"PATH": os.environ["PATH"], "HBASE_CONF_DIR": str(tmp_path)}
    missing = subprocess.run(["bash", str(script), "true"], env=bare, capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "WEBSESSIONS_HDFS_HOST" in missing.stderr


# --- the project image's scripts ---------------------------------------------------------------------------


def test_airflow_configuration_is_the_local_mapping_of_the_cluster_settings(tmp_path: Path) -> None:
    airflow_env = load_script("websessions/airflow_env.py")
    env = {**SHARED_ENV, **DUMMY_SECRETS, "WEBSESSIONS_STACK_DIR": str(tmp_path), "WEBSESSIONS_BIND_HOST": "10.1.2.3"}
    lines = airflow_env.export_lines(load_settings(env, create_secrets=False))
    script = tmp_path / "exports.sh"
    script.write_text("\n".join(lines) + "\nenv\n")
    shell = subprocess.run(["bash", str(script)], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True)
    exported = dict(line.split("=", 1) for line in shell.stdout.splitlines() if line.startswith("AIRFLOW"))
    assert exported["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        "postgresql+psycopg2://websessions:not-a-secret@postgres:5432/airflow"
    )
    assert exported["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert (exported["AIRFLOW__API__HOST"], exported["AIRFLOW__API__PORT"]) == ("10.1.2.3", "8080")
    assert exported["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert Path(exported["AIRFLOW__CORE__DAGS_FOLDER"]) == REPO / "dags"
    assert exported["AIRFLOW_HOME"] == str(tmp_path / "data" / "airflow")
    assert not any(line.startswith("export WEBSESSIONS_") for line in lines)
    # The nightly DAG's Spark connection: the cluster's master, as local[2] is on one machine.
    spark = json.loads(exported["AIRFLOW_CONN_WEBSESSIONS_SPARK"])
    assert spark["host"] == SHARED_ENV["WEBSESSIONS_SPARK_MASTER"] == "spark://spark-master:7077"
    assert spark["extra"]["deploy-mode"] == "client"


def test_airflow_logs_are_shared_where_the_api_server_reads_them() -> None:
    settings = load_settings({**SHARED_ENV, **DUMMY_SECRETS, "WEBSESSIONS_STACK_DIR": "/var/lib/websessions"})
    mount = f"airflow-logs:{settings.logs_dir}"
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        assert mount in services()[name]["volumes"], name
    image_env = (DOCKER_DIR / "websessions" / "Dockerfile").read_text()
    assert "WEBSESSIONS_STACK_DIR=/var/lib/websessions" in image_env


def test_speed_job_is_recognised_by_the_name_the_job_sets() -> None:
    from streaming import sessions_job

    class RecordingConfig:
        def __init__(self) -> None:
            self.values: dict[str, str] = {}

        def set(self, key: str, value: str) -> None:
            self.values[key] = value

    class TableEnvironmentConfig:
        def __init__(self) -> None:
            self.config = RecordingConfig()

        def get_config(self) -> RecordingConfig:
            return self.config

    settings = load_settings({**SHARED_ENV, **DUMMY_SECRETS}, create_secrets=False)
    t_env = TableEnvironmentConfig()
    sessions_job.configure(t_env, settings, jars=[], checkpoint_dir=Path("/var/lib/flink/checkpoints"))
    flink_rest = load_script("flink/flink_rest.py")
    assert t_env.config.values["pipeline.name"] == flink_rest.speed_job_name(settings.kafka_topic_events)
    assert t_env.config.values["execution.checkpointing.dir"] == "file:///var/lib/flink/checkpoints"


def test_speed_job_submits_the_job_file_with_flink_run(tmp_path: Path) -> None:
    speed_job = load_script("flink/speed_job.py")
    job = REPO / compose()["services"]["speed-job"]["environment"]["SPEED_JOB"]
    assert speed_job.PROJECT_DIR == REPO
    fresh = speed_job.submit_command(job, tmp_path, None)
    assert fresh == ["flink", "run", "--detached", "--python", str(job), "--checkpoint-dir", str(tmp_path)]
    restored = speed_job.submit_command(job, tmp_path, tmp_path / "abc" / "chk-7")
    assert restored[3:5] == ["--fromSavepoint", str(tmp_path / "abc" / "chk-7")]


def test_scripts_import_and_shell_scripts_parse() -> None:
    for relative in (
        "websessions/healthcheck.py", "websessions/init_cluster.py", "websessions/speed_writer.py",
        "websessions/hiveserver2.py", "websessions/airflow_env.py", "flink/healthcheck.py", "flink/speed_job.py",
        "resolve_jars.py", "new_env.py",
    ):  # fmt: skip
        assert load_script(relative).__doc__, relative
    init = load_script("websessions/init_cluster.py")
    assert [name for name, _ in init.STEPS] == [
        "kafka topics", "hdfs directories", "hbase tables", "postgres serving schema", "hive tables",
    ]  # fmt: skip
    for script in DOCKER_DIR.rglob("*.sh"):
        assert os.access(script, os.X_OK), f"{script} is not executable"
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_entrypoint_binds_the_container_address_and_derives_airflow_settings() -> None:
    text = (DOCKER_DIR / "websessions" / "entrypoint.sh").read_text()
    assert 'if [ -z "${WEBSESSIONS_BIND_HOST:-}" ]' in text
    assert "airflow_env.py" in text
    dockerfile = (DOCKER_DIR / "websessions" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/usr/bin/dumb-init", "--", "/opt/websessions/docker/websessions/entrypoint.sh"]' in dockerfile
