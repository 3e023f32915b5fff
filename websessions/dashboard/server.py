"""How the dashboard is served: Streamlit's own server (Tornado) running :mod:`websessions.dashboard.app`.

Bound to ``settings.dashboard_host:dashboard_port``; headless, no usage statistics, no file watcher, no
"deploy" menu. ``websessions dashboard`` runs it as a supervised background job like the lander.
"""

from __future__ import annotations

import sys
from pathlib import Path

from websessions.settings import Settings

APP = Path(__file__).with_name("app.py")


def url(settings: Settings) -> str:
    return f"http://{settings.dashboard_host}:{settings.dashboard_port}"


def streamlit_argv(settings: Settings) -> list[str]:
    """The command that serves the app in the foreground."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", settings.dashboard_host,
        "--server.port", str(settings.dashboard_port),
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        "--global.developmentMode", "false",
        "--theme.base", "light",
    ]  # fmt: skip


def healthy(settings: Settings, timeout_s: float = 2.0) -> bool:
    """True when Streamlit's health endpoint answers ``ok``."""
    import requests

    try:
        resp = requests.get(f"{url(settings)}/_stcore/health", timeout=timeout_s)
    except requests.RequestException:
        return False
    return resp.status_code == 200 and resp.text.strip() == "ok"
