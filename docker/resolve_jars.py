"""Resolve pinned jar sets at image build time with the project's own resolver.

The images run the jars the local stack runs: each set is resolved by
:func:`websessions.platform.artifacts.classpath` (the pinned coordinates of ``JAR_SETS``, Maven, the same
pom), so there is no second list of jars to keep in step. Used by ``docker/flink/Dockerfile``
(``flink-connectors`` into Flink's ``lib/``) and ``docker/websessions/Dockerfile`` (``postgres-jdbc``
for the Hive metastore and for Spark's executors).

    WEBSESSIONS_CACHE_DIR=/opt/websessions-cache python docker/resolve_jars.py flink-connectors \\
        --copy-to /jars --manifest /jars/websessions-jars.txt
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from websessions.platform.artifacts import JAR_SETS, classpath
from websessions.settings import load_settings


def manifest_lines(names: list[str], jars: dict[str, list[Path]]) -> list[str]:
    """One block per set: its name, its pinned coordinates, the jar files they resolved to."""
    lines: list[str] = []
    for name in names:
        lines.append(f"[{name}]")
        lines.extend(f"artifact {coordinate}" for coordinate in JAR_SETS[name].artifacts)
        lines.extend(f"jar {jar.name}" for jar in jars[name])
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jar_sets", nargs="+", choices=sorted(JAR_SETS), help="names in artifacts.JAR_SETS")
    parser.add_argument("--copy-to", type=Path, help="also copy every resolved jar into this directory")
    parser.add_argument("--manifest", type=Path, help="write the sets, their coordinates and jars here")
    args = parser.parse_args(argv)

    settings = load_settings(create_secrets=False)
    jars = {name: classpath(settings, name) for name in args.jar_sets}
    if args.copy_to:
        args.copy_to.mkdir(parents=True, exist_ok=True)
        for name in args.jar_sets:
            for jar in jars[name]:
                shutil.copy2(jar, args.copy_to / jar.name)
    if args.manifest:
        args.manifest.parent.mkdir(parents=True, exist_ok=True)
        args.manifest.write_text("\n".join(manifest_lines(args.jar_sets, jars)) + "\n")
    for name in args.jar_sets:
        print(f"{name}: {', '.join(jar.name for jar in jars[name])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
