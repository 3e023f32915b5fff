"""How long each dashboard page takes to render in a browser, and the dashboard's resident memory.

Against the running dashboard (``websessions dashboard``; after ``make demo`` it shows the demo's data):
each page is opened ``--rounds`` times in Debian's headless Chromium, each time in a new Streamlit session,
and timed from the navigation to the page's last change of text once the app has finished running it
(the text then stays unchanged for half a second). The first load of a page may run the queries (cold
cache); the later ones within
the cache interval share the cached results (what a page costs when others watch it too).

    .venv/bin/python bench/bench_dashboard.py [--rounds 5] [--history-query '?from=2026-12-06&to=2026-12-07']
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.dashboard.browser import chromium, rendered  # noqa: E402
from websessions.dashboard import server  # noqa: E402
from websessions.settings import get_settings  # noqa: E402

PAGES = (
    ("live", "", "Look up a user"),
    ("history", "history", "Hourly trend"),
    ("pipeline", "pipeline", "Audit per day"),
)


def dashboard_rss_mb() -> float | None:
    """Resident memory of the Streamlit process serving the dashboard, in MB."""
    found = subprocess.run(
        ["pgrep", "-f", "streamlit run .*websessions/dashboard/app.py"], capture_output=True, text=True
    )
    pids = [int(p) for p in found.stdout.split()]
    if not pids:
        return None
    total_kb = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--history-query", default="", help="e.g. ?from=2026-12-06&to=2026-12-07")
    args = parser.parse_args()
    url = server.url(get_settings())
    if not server.healthy(get_settings()):
        print(f"no dashboard answers at {url}: start it with `websessions dashboard`", file=sys.stderr)
        return 1
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"dashboard {url}; load average {' '.join(load)}")
    print("| page | first load s | later loads: median s | max s |")
    print("| --- | ---: | ---: | ---: |")
    with chromium() as driver:
        for name, path, marker in PAGES:
            query = args.history_query if name == "history" else ""
            times = []
            for _ in range(args.rounds):
                started = time.monotonic()
                driver.get(f"{url}/{path}{query}")
                times.append(rendered(driver, marker, timeout_s=180, since=started))
            later = times[1:] or times
            print(f"| {name} | {times[0]:.2f} | {statistics.median(later):.2f} | {max(later):.2f} |")
    rss = dashboard_rss_mb()
    print(f"dashboard resident memory after the loads: {rss:.0f} MB" if rss else "dashboard process not found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
