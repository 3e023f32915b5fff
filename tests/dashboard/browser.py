"""Headless Chromium from Debian's packages (``chromium``, ``chromium-driver``), driven by Selenium."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parent / "artifacts"  # git-ignored: screenshots of what the tests saw
# The closed network refuses Chromium's background connections; these flags keep it from trying.
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000",
)  # fmt: skip


@contextmanager
def chromium() -> Iterator:
    """A Selenium WebDriver on a fresh Chromium profile, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise RuntimeError("install Debian's chromium and chromium-driver (make system-deps does)")
    profile = tempfile.mkdtemp(prefix="websessions-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def page_text(driver) -> str:
    return driver.find_element("tag name", "body").text


class PageError(AssertionError):
    """The page shows an error element (an exception, st.error)."""


def wait_until(what: str, predicate: Callable[[], object], timeout_s: float = 60.0, interval_s: float = 0.5):
    """``predicate()``'s first truthy value; fails naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = predicate()
        except PageError:
            raise
        except Exception:  # an element still being re-rendered by Streamlit
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def rendered(driver, marker: str, timeout_s: float = 60.0, settle_s: float = 0.5, since: float | None = None) -> float:
    """Wait until the app has finished the page: ``marker`` shown, no "running" indicator, and the page's
    text unchanged for ``settle_s`` (Streamlit draws a page in several deltas). Returns the seconds from
    ``since`` (a ``time.monotonic()`` before the navigation; default: this call) to the last change."""
    start = time.monotonic() if since is None else since
    last_text, last_change = None, start

    def done() -> bool:
        nonlocal last_text, last_change
        failed = errors(driver)
        if failed:
            raise PageError(f"the page shows an error: {failed[0][:2000]}")
        text = page_text(driver)
        now = time.monotonic()
        if text != last_text:
            last_text, last_change = text, now
        running = driver.find_elements("css selector", '[data-testid="stStatusWidget"]')
        if marker not in text or any(e.is_displayed() for e in running):
            return False
        return now - last_change >= settle_s

    wait_until(f"the page to show {marker!r} and settle", done, timeout_s, interval_s=0.05)
    return last_change - start


def errors(driver) -> list[str]:
    """Texts of error elements on the page (exceptions and st.error)."""
    found = driver.find_elements("css selector", '[data-testid="stException"]')
    found += driver.find_elements("css selector", '[data-testid="stAlertContentError"]')
    return [e.text for e in found]


def screenshot(driver, name: str) -> Path:
    """The whole page as ``artifacts/<name>.png``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = driver.execute_script(
        "return Math.max(document.body.scrollHeight,"
        " ...Array.from(document.querySelectorAll('section, [data-testid=stMain]')).map(e => e.scrollHeight))"
    )
    driver.set_window_size(1400, min(max(int(height) + 100, 1000), 8000))
    time.sleep(0.5)
    driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path
