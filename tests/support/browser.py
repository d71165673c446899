"""A headless Chromium from the operating system's packages, driven by Selenium through the
packaged chromedriver: never a browser downloaded at run time.

Where the machine has no Chromium, browser tests are skipped with the reason, unless
``MONITOR_REQUIRE_BROWSER=1`` (set by CI, whose ``.ci/run`` installs the OS packages), where they
fail instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

BROWSERS = ("chromium", "chromium-browser")
# No sandbox: CI runs as root, where Chromium's sandbox refuses to start. No network of its own
# (updates, sync, safe browsing): the tests' pages are on loopback and need nothing else.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,1000",
)


def system_chromium() -> tuple[str, str]:
    """The paths of the system's Chromium and chromedriver (else skip, or fail when required)."""
    browser = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    missing = " and ".join(
        n for n, p in (("chromium", browser), ("chromedriver", driver)) if p is None
    )
    reason = (
        f"no {missing} on PATH: install the OS packages (Debian: apt-get install chromium "
        "chromium-driver) to run the browser tests"
    )
    if os.environ.get("MONITOR_REQUIRE_BROWSER"):
        pytest.fail(reason + " (MONITOR_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


@contextmanager
def chromium(profile: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile in ``profile``, recording the console's log
    (read it with :func:`console_errors`)."""
    browser, driver_path = system_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """The console's errors since the last call: script errors, resources that failed to load,
    Content-Security-Policy violations."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
