"""Real headless Chromium driven by Selenium (Debian `chromium` + `chromium-driver`, installed by `make test`),
and the pipeline's sandbox world and in-process daemon."""
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.pipeline.conftest import make_daemon, world  # noqa: F401 — the same real world and daemon

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
# Headless as root in a container: no sandbox, no GPU, and nothing that phones home.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000")


def _binary(*names: str) -> str | None:
    return next((found for found in map(shutil.which, names) if found), None)


@pytest.fixture
def browser(tmp_path, request):
    chromium, driver_path = _binary("chromium", "chromium-browser"), _binary("chromedriver")
    if chromium is None or driver_path is None:
        message = "chromium and chromium-driver are not installed (`make test` installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^\w-]+", "_", request.node.name)

    def screenshot(name: str) -> Path:
        path = ARTIFACTS / f"{test_name}-{name}.png"
        driver.save_screenshot(str(path))
        return path

    driver.screenshot = screenshot
    yield driver
    screenshot("last")
    driver.quit()
