"""Open a local HTML page in headless Chromium (Debian's chromium and chromium-driver) with
the network cut off, and record what it requested and logged."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tools import require_tool

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


@dataclass(frozen=True)
class PageVisit:
    requests: list[str]          # every URL the page asked for
    console: list[dict]          # browser log entries (level, message)
    driver: object               # the live selenium driver (quit by the caller)


def open_page(page: Path, window: tuple[int, int] = (1200, 2000)) -> PageVisit:
    """Load ``page`` from disk; any request that leaves the machine fails (no proxy route,
    no name resolution) but is still recorded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser = require_tool(CHROMIUM, "the HTML report is checked in a real browser")
    driver_path = require_tool(("chromedriver",), "selenium drives Chromium through it")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--proxy-server=http://127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
                "--no-first-run", "--disable-background-networking", "--disable-extensions",
                f"--window-size={window[0]},{window[1]}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    driver.set_page_load_timeout(60)
    driver.get(page.resolve().as_uri())
    driver.execute_script("return document.readyState")
    requests = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            requests.append(msg["params"]["request"]["url"])
    return PageVisit(requests, driver.get_log("browser"), driver)
