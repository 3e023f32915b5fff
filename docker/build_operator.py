"""Compile the speed layer's session operator (``streaming/java``) at image build time.

The same build as the local stack's (:func:`streaming.sessions_job.operator_jar`: ``javac`` against the
Flink jars of the pinned ``apache-flink`` package), so the cluster runs the operator the local speed
layer runs. Used by ``docker/flink/Dockerfile``, which puts the jar into Flink's ``lib/``.

    python docker/build_operator.py --copy-to /operator
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from streaming.sessions_job import operator_jar
from websessions.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copy-to", type=Path, required=True, help="directory to copy the jar into")
    args = parser.parse_args(argv)
    jar = operator_jar(load_settings(create_secrets=False))
    args.copy_to.mkdir(parents=True, exist_ok=True)
    shutil.copy2(jar, args.copy_to / jar.name)
    print(f"operator: {jar.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
