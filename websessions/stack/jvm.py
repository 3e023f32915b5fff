"""Running JVM services: the java binary, classpaths from pinned jar sets, JDK 17 module flags."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from websessions.platform.artifacts import classpath
from websessions.settings import Settings
from websessions.stack.service import StackError

#: java.base packages Hadoop-family services reflect into on JDK 17.
ADD_OPENS = (
    "java.base/java.io", "java.base/java.lang", "java.base/java.lang.reflect", "java.base/java.math",
    "java.base/java.net", "java.base/java.nio", "java.base/java.text", "java.base/java.util",
    "java.base/java.util.concurrent", "java.base/java.util.concurrent.atomic", "java.base/java.util.zip",
    "java.base/jdk.internal.ref", "java.base/sun.nio.ch", "java.base/sun.security.util",
    "java.base/sun.security.x509", "java.base/java.util.regex", "java.base/java.time",
)  # fmt: skip
ADD_EXPORTS = (
    "java.base/jdk.internal.misc", "java.base/sun.net.dns", "java.base/sun.net.util",
    "java.security.jgss/sun.security.krb5",
)  # fmt: skip


def java_binary() -> str:
    """The java executable (JAVA_HOME first), or a StackError saying how to install it."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    if candidate and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if not found:
        raise StackError("java", "Java 17 is not installed (apt-get install openjdk-17-jdk-headless)")
    return found


def module_flags() -> list[str]:
    flags = [f"--add-opens={pkg}=ALL-UNNAMED" for pkg in ADD_OPENS]
    flags += [f"--add-exports={pkg}=ALL-UNNAMED" for pkg in ADD_EXPORTS]
    return [*flags, "--add-modules=jdk.unsupported"]


def java_argv(
    settings: Settings,
    jar_set: str,
    main_class: str,
    args: list[str],
    *,
    heap: str,
    conf_dirs: list[Path] = (),
    system_properties: dict[str, str] | None = None,
) -> list[str]:
    """A ``java`` command line: heap, JDK 17 flags, config dirs first on the classpath, then jars."""
    jars = classpath(settings, jar_set)
    cp = os.pathsep.join([*(str(d) for d in conf_dirs), *(str(j) for j in jars)])
    props = [f"-D{k}={v}" for k, v in (system_properties or {}).items()]
    return [
        java_binary(), f"-Xmx{heap}", "-Xms64m", "-XX:+UseSerialGC", "-Djava.net.preferIPv4Stack=true",
        *module_flags(), *props, "-cp", cp, main_class, *args,
    ]  # fmt: skip
