"""Static checks of the cluster deployment (docker-compose.yml, .env.example, docs/cluster.md).

No Docker engine is needed: the file is validated against the Compose specification's JSON schema and,
where the tool is installed, by ``docker-compose config``; the rest reads the file and compares it with
the settings module, so the cluster and the local stack cannot drift apart unnoticed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.docker.compose_files import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    REPO,
    SETTINGS_DEFAULTS,
    WEBSESSIONS_NAME,
    builds,
    compose,
    dependency_conditions,
    environment,
    image_of,
    interpolations,
    is_one_shot,
    published_ports,
    resolve,
    services,
    setting_name,
    split_image,
)
from websessions.settings import SECRET_FIELDS, load_settings

SECRET_VARIABLES = {"WEBSESSIONS_" + name.upper() for name in SECRET_FIELDS}
PROJECT_IMAGES = {"websessions:0.1.0", "websessions-flink:2.2.1"}
#: Per-service values of the shared block that deliberately differ (and why).
ALLOWED_OVERRIDES = {("hiveserver2", "WEBSESSIONS_SPARK_MASTER")}  # its queries run in its own JVM
#: Published ports that are a setting's port: (service, container port) -> settings field.
SETTINGS_PORTS = {
    ("postgres", 5432): "postgres_port",
    ("kafka", 29092): "kafka_port",
    ("namenode", 8020): "hdfs_rpc_port",
    ("namenode", 9870): "hdfs_http_port",
    ("hbase", 9090): "hbase_thrift_port",
    ("hiveserver2", 10000): "hive_port",
    ("airflow-apiserver", 8080): "airflow_port",
    ("collector", 8090): "collector_port",
    ("dashboard", 8501): "dashboard_port",
}
#: Published ports no setting describes: web UIs.
UI_PORTS = {("jobmanager", 8081), ("spark-master", 8082)}
SCALABLE = ("taskmanager", "spark-worker", "datanode-extra", "hbase-regionserver")
DUMMY_SECRETS = {name: "not-a-secret" for name in SECRET_VARIABLES}


def shared_env() -> dict[str, str]:
    return {k: str(v) for k, v in compose()["x-websessions-env"].items()}


def shared_secrets() -> dict[str, str]:
    return {k: str(v) for k, v in compose()["x-websessions-secrets"].items()}


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


# --- the file is a valid compose file ------------------------------------------------------------------


def test_compose_file_parses_with_services_and_named_volumes() -> None:
    doc = compose()
    assert len(doc["services"]) >= 20
    named = set(doc["volumes"])
    for name, service in doc["services"].items():
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: bind-mounted {source} is not in the repository"
            elif ":" in str(volume):
                assert source in named, f"{name}: volume {source} is not declared under volumes:"


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    spec = importlib.util.find_spec("check_jsonschema")
    assert spec is not None, "check-jsonschema (dev extra) is not installed: it ships the Compose spec schema"
    import jsonschema

    schema_file = Path(spec.submodule_search_locations[0]) / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
    broken = json.loads(json.dumps(compose()))
    broken["services"]["kafka"]["healthcheck"]["intervall"] = "1s"
    assert list(validator.iter_errors(broken)), "the schema must reject an unknown healthcheck key"


def compose_command() -> list[str] | None:
    """``docker-compose`` (Debian's package, v1: ``config`` needs no engine) or the Compose v2 plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if plugin.returncode == 0:
            return ["docker", "compose"]
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    command = compose_command()
    assert command is not None, "neither docker-compose nor the docker compose plugin is installed (make system-deps)"
    config = [*command, "-f", str(COMPOSE_FILE), "--project-directory", str(REPO), "config", "-q"]
    base_env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    result = subprocess.run(config, env={**base_env, **DUMMY_SECRETS}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if not (REPO / ".env").exists():  # a developer's .env supplies the secrets
        missing = subprocess.run(config, env=base_env, capture_output=True, text=True, timeout=120)
        assert missing.returncode != 0 and "set it in .env" in missing.stdout + missing.stderr


# --- images --------------------------------------------------------------------------------------------


def test_every_service_runs_a_pinned_image_or_builds_one() -> None:
    built = builds()
    for name, service in services().items():
        reference = image_of(service)
        assert reference, f"{name}: no image (a built image needs a pinned name too)"
        _, tag = split_image(reference)
        assert tag and tag != "latest", f"{name}: image {reference!r} is not pinned to a version"
        assert "@" not in reference or tag, f"{name}: {reference}"
        if "build" in service:
            context, dockerfile = built[reference]
            assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def test_long_running_services_have_healthchecks_and_one_shots_are_awaited() -> None:
    awaited = {
        target
        for service in services().values()
        for target, condition in dependency_conditions(service).items()
        if condition == "service_completed_successfully"
    }
    for name, service in services().items():
        restart = str(service.get("restart", ""))
        assert restart in ("unless-stopped", "no"), f"{name}: restart policy {restart!r}"
        if is_one_shot(service):
            assert name in awaited or service.get("profiles"), f"{name}: a one-shot nobody waits for"
            continue
        test = (service.get("healthcheck") or {}).get("test")
        assert test and test != ["NONE"] and not service["healthcheck"].get("disable"), f"{name}: no healthcheck"
        assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: {test}"


def test_every_dependency_waits_on_a_condition() -> None:
    for name, service in services().items():
        for target, condition in dependency_conditions(service).items():
            assert target in services(), f"{name} depends on unknown {target}"
            if condition == "service_healthy":
                assert services()[target].get("healthcheck"), f"{name} waits for {target}'s health: it has none"
            elif condition == "service_completed_successfully":
                assert is_one_shot(services()[target]), f"{name} waits for {target} to exit: it runs forever"
            else:
                pytest.fail(f"{name} -> {target}: condition {condition!r}, not a health or completion condition")


# --- settings: the same names as locally, only host values differ --------------------------------------


def test_every_websessions_variable_is_a_settings_field() -> None:
    files = [COMPOSE_FILE, ENV_EXAMPLE, REPO / "docs" / "cluster.md"]
    files += [p for p in (REPO / "docker").rglob("*") if p.is_file() and p.suffix in ("", ".sh", ".py")]
    used = {name for path in files for name in WEBSESSIONS_NAME.findall(path.read_text())}
    assert len(used) > 30
    unknown = sorted(name for name in used if setting_name(name) not in SETTINGS_DEFAULTS)
    assert unknown == [], "not fields of websessions.settings.Settings"


def test_cluster_values_differ_from_the_local_defaults_only_in_host_names() -> None:
    env = shared_env()
    service_names = set(services())
    for variable, value in env.items():
        field = setting_name(variable)
        default = SETTINGS_DEFAULTS[field]
        resolved = resolve(value)
        if field.endswith("_host"):
            assert default == "127.0.0.1" and resolved in service_names, f"{variable}={resolved}: not a service"
        elif field == "spark_master":
            host, port = resolved.removeprefix("spark://").split(":")
            assert host in service_names and port == "7077"
        else:
            assert resolved == str(default), f"{variable}={resolved}, the local default is {default!r}"
    assert {"WEBSESSIONS_BIND_HOST", "WEBSESSIONS_STACK_DIR"}.isdisjoint(env), "set per container by the image"
    settings = load_settings({**{k: resolve(v) for k, v in env.items()}, **DUMMY_SECRETS}, create_secrets=False)
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.hdfs_url == "hdfs://namenode:8020"
    assert settings.airflow_url == "http://airflow-apiserver:8080"


def test_secrets_are_required_interpolations_of_the_same_names() -> None:
    secrets = shared_secrets()
    assert set(secrets) == SECRET_VARIABLES
    for variable, value in secrets.items():
        assert interpolations(value) == [(variable, ":?", "set it in .env (see .env.example)")], value
    assert SECRET_VARIABLES.isdisjoint(shared_env())


def test_project_containers_get_the_shared_blocks() -> None:
    expected = {**shared_env(), **shared_secrets()}
    project = [name for name, s in services().items() if image_of(s) in PROJECT_IMAGES]
    assert len(project) >= 15
    for name in project:
        env = environment(services()[name])
        for variable, value in expected.items():
            assert variable in env, f"{name} lacks {variable}"
            if (name, variable) not in ALLOWED_OVERRIDES:
                assert env[variable] == value, f"{name}: {variable}={env[variable]} differs from the shared block"
    # Images that only need addresses (HBase) get the block without the secrets.
    for name in ("hbase-master", "hbase-regionserver", "hbase"):
        env = environment(services()[name])
        assert shared_env().items() <= env.items() and SECRET_VARIABLES.isdisjoint(env)


def test_published_ports_bind_loopback_and_are_the_settings_defaults() -> None:
    seen: dict[int, str] = {}
    for name, service in services().items():
        for host_ip, host_port, container_port in published_ports(service):
            assert host_ip == "127.0.0.1", f"{name}: published beyond loopback"
            assert host_port not in seen, f"{name} and {seen.get(host_port)} both publish {host_port}"
            seen[host_port] = name
            key = (name, container_port)
            if key in SETTINGS_PORTS:
                assert host_port == SETTINGS_DEFAULTS[SETTINGS_PORTS[key]], f"{name}: {host_port}"
            else:
                assert key in UI_PORTS and host_port == container_port, f"{name}: unexpected port {key}"
    assert set(seen) >= {5432, 9092, 8020, 9870, 9090, 10000, 8080, 8090}


def test_third_party_configuration_agrees_with_the_settings_block() -> None:
    env = {k: resolve(v) for k, v in shared_env().items()}
    s = services()

    pg = environment(s["postgres"])
    assert pg["POSTGRES_USER"] == env["WEBSESSIONS_POSTGRES_USER"]
    assert pg["POSTGRES_DB"] == env["WEBSESSIONS_POSTGRES_DB"]
    assert pg["POSTGRES_PASSWORD"] == shared_secrets()["WEBSESSIONS_POSTGRES_PASSWORD"]
    assert pg["WEBSESSIONS_AIRFLOW_DB"] == env["WEBSESSIONS_AIRFLOW_DB"]
    assert pg["WEBSESSIONS_METASTORE_DB"] == env["WEBSESSIONS_METASTORE_DB"]
    assert env["WEBSESSIONS_POSTGRES_HOST"] == "postgres"

    kafka = {k: resolve(v) for k, v in environment(s["kafka"]).items()}
    advertised = dict(item.split("://") for item in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert advertised["PLAINTEXT"] == f"{env['WEBSESSIONS_KAFKA_HOST']}:{env['WEBSESSIONS_KAFKA_PORT']}"
    # The published listener is advertised at the local default address, so host clients work unchanged.
    assert advertised["HOST"] == f"127.0.0.1:{SETTINGS_DEFAULTS['kafka_port']}"
    listeners = dict(item.split("://") for item in kafka["KAFKA_LISTENERS"].split(","))
    assert listeners["CONTROLLER"] == f":{env['WEBSESSIONS_KAFKA_CONTROLLER_PORT']}"
    assert listeners["HOST"] == ":29092" and listeners["PLAINTEXT"] == f":{env['WEBSESSIONS_KAFKA_PORT']}"
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"1@kafka:{env['WEBSESSIONS_KAFKA_CONTROLLER_PORT']}"
    assert kafka["KAFKA_NUM_PARTITIONS"] == env["WEBSESSIONS_KAFKA_PARTITIONS"]
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # the init job creates the topics

    for name in ("namenode", "datanode", "datanode-extra"):
        hadoop = {k: resolve(v) for k, v in environment(s[name]).items()}
        rpc = f"{env['WEBSESSIONS_HDFS_HOST']}:{env['WEBSESSIONS_HDFS_RPC_PORT']}"
        assert hadoop["CORE-SITE.XML_fs.defaultFS"] == f"hdfs://{rpc}"
        assert hadoop["HDFS-SITE.XML_dfs.namenode.rpc-address"] == rpc
        assert hadoop["HDFS-SITE.XML_dfs.namenode.http-address"] == (
            f"{env['WEBSESSIONS_HDFS_HOST']}:{env['WEBSESSIONS_HDFS_HTTP_PORT']}"
        )
        assert hadoop["CORE-SITE.XML_hadoop.http.staticuser.user"] == env["WEBSESSIONS_HDFS_USER"]
        assert hadoop["HDFS-SITE.XML_dfs.permissions.enabled"] == "false"
    assert (
        environment(s["namenode"])["ENSURE_NAMENODE_DIR"]
        == environment(s["namenode"])["HDFS-SITE.XML_dfs.namenode.name.dir"]
    )

    assert env["WEBSESSIONS_HBASE_ZOOKEEPER_PORT"] == "2181"  # the zookeeper image's client port
    for name in ("hbase-master", "hbase-regionserver", "hbase"):
        assert environment(s[name])["HBASE_ZOOKEEPER_QUORUM"] in s
    assert [s[n]["command"][0] for n in ("hbase-master", "hbase-regionserver", "hbase")] == [
        "master", "regionserver", "thrift",
    ]  # fmt: skip

    master = s["spark-master"]["command"]
    host, port = env["WEBSESSIONS_SPARK_MASTER"].removeprefix("spark://").split(":")
    assert master[master.index("--host") + 1] == host and master[master.index("--port") + 1] == port
    assert s["spark-worker"]["command"][-1] == env["WEBSESSIONS_SPARK_MASTER"]
    webui = master[master.index("--webui-port") + 1]
    healthcheck = load_healthcheck_module()
    assert int(webui) == healthcheck.SPARK_MASTER_UI_PORT

    for name in ("jobmanager", "taskmanager", "speed-job"):
        flink = environment(s[name])
        assert flink["JOB_MANAGER_RPC_ADDRESS"] == "jobmanager"
        assert "rest.address: jobmanager" in flink["FLINK_PROPERTIES"]
        assert flink["FLINK_REST_URL"] == "http://jobmanager:8081"
    assert (s["speed-job"]["environment"]["SPEED_JOB"], True) == (
        "streaming/sessions_job.py",
        (REPO / "streaming" / "sessions_job.py").is_file(),
    )
    checkpoint_dir = s["speed-job"]["environment"]["FLINK_CHECKPOINT_DIR"]
    for name in ("jobmanager", "taskmanager", "speed-job"):
        assert f"flink-checkpoints:{checkpoint_dir}" in s[name]["volumes"], f"{name} must share the checkpoints"


def load_healthcheck_module():
    from tests.docker.compose_files import load_script

    return load_script("websessions/healthcheck.py")


def test_healthchecks_name_checks_the_scripts_have() -> None:
    from tests.docker.compose_files import load_script

    scripts = {
        "/opt/websessions/docker/websessions/healthcheck.py": set(load_healthcheck_module().CHECKS),
        "/opt/websessions/docker/flink/healthcheck.py": set(load_script("flink/healthcheck.py").CHECKS),
    }
    used = 0
    for name, service in services().items():
        test = (service.get("healthcheck") or {}).get("test") or []
        for script, checks in scripts.items():
            if script in test:
                assert test[test.index(script) + 1] in checks, f"{name}: {test}"
                used += 1
    assert used >= 10


def test_scalable_services_publish_nothing_and_have_no_fixed_names() -> None:
    for name in SCALABLE:
        service = services()[name]
        assert not service.get("ports"), f"{name} publishes ports: a second replica could not start"
        assert "container_name" not in service and "hostname" not in service, f"{name}: replicas need own names"
    assert services()["datanode-extra"]["deploy"]["replicas"] == 0
    assert not services()["datanode-extra"].get("volumes"), "extra DataNodes must not share one volume"


# --- no secrets in the repository; .env.example covers what compose needs -------------------------------


def test_no_secret_values_in_the_compose_file_or_the_env_example() -> None:
    secretish = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
    for name, service in {**services(), "x-websessions-secrets": {"environment": shared_secrets()}}.items():
        for key, value in environment(service).items():
            if secretish.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value), f"{name}: {key} has a literal value"
    example = env_example()
    for key, value in example.items():
        if secretish.search(key):
            assert value == "", f".env.example: {key} must be empty"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_env_example_lists_every_variable_the_compose_file_reads() -> None:
    used = {name for name, _, _ in interpolations(COMPOSE_FILE.read_text())}
    listed = set(env_example())
    assert used <= listed, f"missing from .env.example: {sorted(used - listed)}"
    unused = listed - used - {"COMPOSE_PROJECT_NAME"}
    assert not unused, f"unused in .env.example: {sorted(unused)}"
    # Knob defaults in .env.example are the compose file's defaults.
    for name, op, default in interpolations(COMPOSE_FILE.read_text()):
        if op == ":-":
            assert env_example()[name] == default, f"{name}: .env.example says {env_example()[name]}, compose {default}"


def test_new_env_fills_in_every_secret_and_nothing_else() -> None:
    import base64

    from tests.docker.compose_files import load_script

    new_env = load_script("new_env.py")
    rendered = new_env.render(ENV_EXAMPLE.read_text())
    values = dict(line.split("=", 1) for line in rendered.splitlines() if line and not line.startswith("#"))
    for name in SECRET_VARIABLES:
        assert len(values[name]) >= 32, name
    assert len(base64.urlsafe_b64decode(values["WEBSESSIONS_AIRFLOW_FERNET_KEY"])) == 32
    assert {k: v for k, v in values.items() if k not in SECRET_VARIABLES} == {
        k: v for k, v in env_example().items() if k not in SECRET_VARIABLES
    }
    assert new_env.render(ENV_EXAMPLE.read_text()) != rendered, "secrets must be fresh on every run"
    # The generated file satisfies the compose file's required variables and the settings module.
    settings = load_settings({**{k: resolve(v) for k, v in shared_env().items()}, **values}, create_secrets=False)
    assert all(getattr(settings, name) for name in SECRET_FIELDS)


# --- the documentation names real services ----------------------------------------------------------------


def test_cluster_doc_commands_name_real_services() -> None:
    doc = (REPO / "docs" / "cluster.md").read_text()
    scaled = re.findall(r"--scale ([a-z-]+)=", doc)
    assert set(scaled) == set(SCALABLE)
    run = re.findall(r"docker compose (?:run --rm(?: --no-deps)?(?: -v \S+)?|exec|stop|restart) ([a-z0-9-]+)", doc)
    assert run and set(run) <= set(services()), sorted(set(run) - set(services()))
    assert "web_sessions_nightly" in doc and "flink run" in doc
    listed = [
        name
        for line in doc.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([a-z0-9-]+)`", line.split("|")[1].split("(")[0])
    ]
    assert set(listed) == set(services()), "the service table of docs/cluster.md and the compose file differ"
