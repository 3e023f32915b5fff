"""What both deployments render from the settings (``websessions.platform``), without any service."""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

from websessions.platform import airflow_config, hive_config
from websessions.platform.site_xml import site_xml
from websessions.settings import load_settings


def _settings(tmp_path: Path, **overrides: str):
    env = {"WEBSESSIONS_STACK_DIR": str(tmp_path), **{f"WEBSESSIONS_{k.upper()}": v for k, v in overrides.items()}}
    return load_settings(env)


def test_site_xml_escapes_and_keeps_the_order() -> None:
    root = ET.fromstring(site_xml({"b.key": "x<y&z", "a.key": "1"}))
    pairs = [(p.findtext("name"), p.findtext("value")) for p in root.iter("property")]
    assert pairs == [("b.key", "x<y&z"), ("a.key", "1")]


def test_the_metastore_follows_the_settings(tmp_path: Path) -> None:
    settings = _settings(tmp_path, postgres_host="db.internal", postgres_port="6543", hdfs_host="nn", hive_port="10001")
    site = hive_config.hive_site(settings)
    assert site["javax.jdo.option.ConnectionURL"] == f"jdbc:postgresql://db.internal:6543/{settings.metastore_db}"
    assert site["javax.jdo.option.ConnectionPassword"] == settings.postgres_password
    assert site["hive.metastore.warehouse.dir"] == f"hdfs://nn:{settings.hdfs_rpc_port}{settings.warehouse_dir}"
    assert site["hive.server2.thrift.port"] == "10001"


def test_the_airflow_passwords_file_is_ours_only_and_named_in_the_environment(tmp_path: Path) -> None:
    settings = _settings(tmp_path, airflow_user="ops")
    passwords = tmp_path / "conf" / "passwords.json"
    airflow_config.write_passwords_file(settings, passwords)
    assert json.loads(passwords.read_text()) == {"ops": settings.airflow_password}
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    env = airflow_config.airflow_env(settings, tmp_path / "home", passwords)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(passwords)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "ops:admin"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == settings.postgres_url(settings.airflow_db)
    assert env["WEBSESSIONS_AIRFLOW_USER"] == "ops"  # DAG tasks see the same settings
