"""The project's own JVM code, compiled on first use into a jar in the cache (never into the repository).

The speed layer's per-event operator is Java (``streaming/java``). It is compiled with the JDK's
``javac`` against the Flink jars that the pinned ``apache-flink`` package ships, so it always links to
exactly the Flink it runs in; nothing is downloaded. The jar's name carries a digest of the sources and
of that classpath: a change to either rebuilds it, an unchanged tree reuses it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from websessions.settings import Settings


class BuildError(RuntimeError):
    pass


def pyflink_classpath() -> list[Path]:
    """The Flink jars of the installed PyFlink (``pyflink/lib``)."""
    import pyflink

    lib = Path(pyflink.__file__).parent / "lib"
    jars = sorted(lib.glob("*.jar"))
    if not jars:
        raise BuildError(f"no Flink jars in {lib}: is apache-flink installed?")
    return jars


def _digest(sources: list[Path], classpath: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sources:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for jar in classpath:
        h.update(jar.name.encode() + b"\0")
    return h.hexdigest()[:12]


def build_jar(settings: Settings, name: str, source_dir: Path, classpath: list[Path], echo=print) -> Path:
    """Compile every ``.java`` file under ``source_dir`` into ``<cache>/jars/<name>-<digest>.jar``."""
    sources = sorted(source_dir.rglob("*.java"))
    if not sources:
        raise BuildError(f"no Java sources under {source_dir}")
    out = settings.cache_dir / "jars" / f"{name}-{_digest(sources, classpath)}.jar"
    if out.exists():
        return out
    for tool in ("javac", "jar"):
        if shutil.which(tool) is None:
            raise BuildError(f"the JDK's {tool} is missing: apt-get install openjdk-17-jdk-headless")
    out.parent.mkdir(parents=True, exist_ok=True)
    echo(f"compiling {name} ({len(sources)} Java sources) into {out}")
    with tempfile.TemporaryDirectory() as tmp:
        classes = Path(tmp) / "classes"
        compiled = subprocess.run(
            ["javac", "--release", "17", "-encoding", "UTF-8", "-cp", ":".join(map(str, classpath)),
             "-d", str(classes), *map(str, sources)],
            capture_output=True, text=True,
        )  # fmt: skip
        if compiled.returncode != 0:
            raise BuildError(f"compiling {name} failed:\n{compiled.stderr.strip()[-2000:]}")
        partial = out.with_suffix(f".{Path(tmp).name}.tmp")
        subprocess.run(["jar", "cf", str(partial), "-C", str(classes), "."], check=True, capture_output=True)
        partial.replace(out)  # whole or not at all: a concurrent build writes the same bytes
    for stale in out.parent.glob(f"{name}-*.jar"):
        if stale != out:
            stale.unlink(missing_ok=True)
    return out
