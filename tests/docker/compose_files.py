"""Reading the deployment files for the static tests: the compose file, its interpolation, Dockerfiles,
dockerignore rules, and the repository's ``docker/`` scripts as importable modules."""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib.util
import re
import shlex
from functools import cache
from pathlib import Path
from types import ModuleType

import yaml

from websessions.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKER_DIR = REPO / "docker"

#: ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``, ``${NAME:?message}``, ``${NAME?message}``.
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
WEBSESSIONS_NAME = re.compile(r"\bWEBSESSIONS_[A-Z0-9_]+\b")
SETTINGS_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Settings)}


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def setting_name(variable: str) -> str | None:
    """``WEBSESSIONS_KAFKA_PORT`` -> ``kafka_port``; None for other names."""
    return variable[len(ENV_PREFIX) :].lower() if variable.startswith(ENV_PREFIX) else None


def interpolations(text: str) -> list[tuple[str, str, str]]:
    """Every ``${...}`` of ``text`` as (name, operator, argument); ``$${...}`` is an escaped literal."""
    return [m.groups(default="") for m in INTERPOLATION.finditer(text.replace("$$", ""))]  # type: ignore[misc]


def resolve(value: object, env: dict[str, str] | None = None) -> str:
    """A compose value as the container sees it: variables from ``env``, else their default; required
    variables (``:?``) without a value become ``<NAME>``."""
    env = env or {}

    def substitute(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in env and (env[name] or ":" not in op):
            return env[name]
        if op.endswith("-"):
            return arg
        return f"<{name}>"

    return INTERPOLATION.sub(substitute, str(value)).replace("$$", "$")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def image_of(service: dict) -> str:
    return service.get("image", "")


def split_image(reference: str) -> tuple[str, str]:
    """``repo/name:tag`` -> (``repo/name``, ``tag``); the tag is empty when there is none."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, ""
    return name, tag


def published_ports(service: dict) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of every short-syntax port mapping."""
    result = []
    for entry in service.get("ports") or []:
        parts = str(entry).split(":")
        if len(parts) != 3:
            result.append(("", -1, -1))  # no explicit host ip: reported by the loopback test
            continue
        result.append((parts[0], int(parts[1]), int(parts[2].split("/")[0])))
    return result


def is_one_shot(service: dict) -> bool:
    return str(service.get("restart", "")) == "no"


def dependency_conditions(service: dict) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):  # short syntax: no condition
        return {name: "" for name in depends}
    return {name: (spec or {}).get("condition", "") for name, spec in depends.items()}


# --- Dockerfiles -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def copy_sources(instruction: Instruction) -> tuple[list[str], str | None]:
    """(sources, --from stage or None) of a COPY/ADD instruction."""
    tokens = shlex.split(instruction.args)
    stage = None
    while tokens and tokens[0].startswith("--"):
        flag = tokens.pop(0)
        if flag.startswith("--from="):
            stage = flag.split("=", 1)[1]
    return tokens[:-1], stage


def builds() -> dict[str, tuple[Path, Path]]:
    """image -> (context dir, Dockerfile) for every service that builds its image."""
    result = {}
    for service in services().values():
        build = service.get("build")
        if not build:
            continue
        build = {"context": build} if isinstance(build, str) else build
        context = (REPO / build["context"]).resolve()
        result[image_of(service)] = (context, context / build.get("dockerfile", "Dockerfile"))
    return result


def dockerignore_rules(context: Path, dockerfile: Path) -> list[str]:
    """The ignore rules BuildKit applies: ``<Dockerfile>.dockerignore`` first, else the context's."""
    for candidate in (dockerfile.with_name(dockerfile.name + ".dockerignore"), context / ".dockerignore"):
        if candidate.exists():
            lines = (line.strip() for line in candidate.read_text().splitlines())
            return [line for line in lines if line and not line.startswith("#")]
    return []


def ignored(path: str, rules: list[str]) -> bool:
    """Whether ``path`` (relative to the context) is excluded; the last matching rule wins."""
    path = path.strip("/")
    verdict = False
    for rule in rules:
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        if pattern.startswith("**/"):
            matched = any(fnmatch.fnmatch(part, pattern[3:]) for part in path.split("/"))
        else:
            matched = fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
            if not matched and "/" not in pattern and "*" in pattern:
                matched = fnmatch.fnmatch(path.split("/")[0], pattern)
        if matched:
            verdict = not negate
    return verdict


# --- the repository's docker/ scripts ------------------------------------------------------------------


def load_script(relative: str) -> ModuleType:
    """Import ``docker/...py`` by path (its own directory importable, as when the image runs it)."""
    import sys

    path = DOCKER_DIR / relative
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.append(directory)
    spec = importlib.util.spec_from_file_location(f"docker_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
