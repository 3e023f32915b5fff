"""Create ``.env`` for docker-compose.yml: a copy of ``.env.example`` with the secrets generated.

    python3 docker/new_env.py [--force]

The secrets are made by the same function the local stack uses for its generated secrets file
(``websessions.settings._new_secret``: URL-safe random tokens, a Fernet key for Airflow); the file is
written with mode 0600. An existing ``.env`` is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from websessions.settings import ENV_PREFIX, SECRET_FIELDS, _new_secret  # noqa: E402


def render(example: str) -> str:
    """``.env.example`` with every empty secret assignment given a fresh value."""
    secret_names = {ENV_PREFIX + name.upper(): name for name in SECRET_FIELDS}
    lines = []
    for line in example.splitlines():
        key, sep, value = line.partition("=")
        if sep and key in secret_names and not value.strip():
            line = f"{key}={_new_secret(secret_names[key])}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite an existing .env")
    args = parser.parse_args(argv)
    target = REPO / ".env"
    if target.exists() and not args.force:
        print(f"{target} exists; keeping it (--force replaces it, and the data volumes keep the old passwords)")
        return 1
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(render((REPO / ".env.example").read_text()))
    print(f"wrote {target} with generated secrets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
