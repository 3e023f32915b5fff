"""The jobs, DAGs and images never import the local stack manager, directly or through another module.

``websessions.stack`` starts and stops processes on one machine; what both deployments need is in
``websessions.platform``. Every module's imports are read with ``ast`` (imports inside functions
included, since the jobs import lazily), and followed through the project's own modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from websessions.settings import REPO_ROOT

FORBIDDEN = "websessions.stack"
#: Folders whose code runs on every deployment (jobs, DAGs, images).
DEPLOYED = ("batch", "streaming", "dags", "docker")
#: Top-level packages whose modules are followed when one of them is imported.
PROJECT_PACKAGES = ("websessions", "batch", "streaming")


def imported_names(path: Path, module: str) -> Iterator[str]:
    """Every module name ``path`` imports, anywhere in the file; ``from a import b`` yields ``a`` and ``a.b``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def module_file(name: str, root: Path) -> Path | None:
    """The project file of module ``name`` (``None`` outside the project's packages)."""
    if name.split(".")[0] not in PROJECT_PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def with_parents(name: str) -> Iterator[str]:
    """``a.b.c`` runs ``a`` and ``a.b`` first: ``a``, ``a.b``, ``a.b.c``."""
    parts = name.split(".")
    yield from (".".join(parts[: i + 1]) for i in range(len(parts)))


def forbidden_chain(path: Path, module: str, root: Path = REPO_ROOT) -> list[str] | None:
    """The import chain from ``path`` to ``websessions.stack``, or ``None`` when there is none."""
    seen: set[str] = set()
    stack: list[tuple[Path, str, list[str]]] = [(path, module, [module])]
    while stack:
        current, current_module, chain = stack.pop()
        for imported in imported_names(current, current_module):
            for name in with_parents(imported):
                if name == FORBIDDEN or name.startswith(FORBIDDEN + "."):
                    return [*chain, name]
                target = module_file(name, root)
                if target is not None and name not in seen:
                    seen.add(name)
                    stack.append((target, name, [*chain, name]))
    return None


def deployed_modules() -> list[tuple[Path, str]]:
    modules = []
    for folder in DEPLOYED:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            relative = path.relative_to(REPO_ROOT).with_suffix("")
            modules.append((path, ".".join(relative.parts).removesuffix(".__init__")))
    return modules


@pytest.mark.parametrize("path,module", deployed_modules(), ids=[m for _, m in deployed_modules()])
def test_deployed_code_never_imports_the_local_stack(path: Path, module: str) -> None:
    chain = forbidden_chain(path, module)
    assert chain is None, f"{module} imports the local stack manager: {' -> '.join(chain)}"


def test_every_deployed_folder_is_walked() -> None:
    walked = {module.split(".")[0] for _, module in deployed_modules()}
    assert walked == set(DEPLOYED)


def test_the_walk_finds_an_import_inside_a_function_two_modules_away(tmp_path: Path) -> None:
    (tmp_path / "batch").mkdir()
    (tmp_path / "websessions").mkdir()
    (tmp_path / "websessions" / "__init__.py").write_text("")
    (tmp_path / "websessions" / "helper.py").write_text("def f():\n    from .stack.process import ProcessSpec\n")
    job = tmp_path / "batch" / "job.py"
    job.write_text("def main():\n    from websessions import helper\n")
    assert forbidden_chain(job, "batch.job", tmp_path) == [
        "batch.job",
        "websessions.helper",
        "websessions.stack",
    ]
    job.write_text("def main():\n    from websessions import settings\n")
    assert forbidden_chain(job, "batch.job", tmp_path) is None
