"""A real browser through nginx: the kept smoke deployment's page ingests and finds a document.

`invoke release.smoke --keep` boots the production compose file (stand-ins, free port), then
Debian's chromium, driven headless by selenium through Debian's chromedriver (both paths
given explicitly: nothing is downloaded), loads the page from nginx, adds a document with the
ingest form, waits until the page shows it indexed, searches and sees it in the results.
Background networking and component updates are off, so the browser talks to loopback only.
A screenshot is kept in the test's tmp dir. Then `invoke release.down` removes the
deployment and nothing with its labels remains.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.dev.ports import free_ports
from stack.engine.client import engine_alive

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not engine_alive(), reason="no Docker engine (run: invoke engine.ensure)"),
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="chromium/chromium-driver not installed (scripts/setup installs them as root)",
    ),
]

#: Only loopback: no sync, no component updater, no QUIC, no first-run fetches.
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,1100",
)


def _cli_env(tmp: Path) -> dict[str, str]:
    from stack.engine import labels

    own = labels.session_labels(labels.new_session_id(), purpose="test")
    return {
        **os.environ,
        "STACK_OFFLINE": "1",
        "STACK_SMOKE_DIR": str(tmp),
        "STACK_EXTRA_LABELS": ",".join(f"{k}={v}" for k, v in own.items()),
    }


def _invoke(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def kept(tmp_path_factory) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A `release.smoke --keep` deployment: (nginx URL, project, CLI env); removed after."""
    from stack.release import variants

    tmp = tmp_path_factory.mktemp("smoke")
    env = _cli_env(tmp)
    project = f"stack-e2e-browser-{uuid.uuid4().hex[:6]}"
    env_file = variants.write("postgresql-pgvector", tmp)
    proc = _invoke(
        env, "release.smoke", "--keep", "--port", str(free_ports(1)[0]), "--project", project,
        "--env-file", str(env_file), "--timeout", "300",
    )  # fmt: skip
    try:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        url = next(
            line.split()[1].rstrip("/")
            for line in proc.stdout.splitlines()
            if line.startswith("kept: http://")
        )
        assert f"invoke release.down --project {project}" in proc.stdout
        yield url, project, env
    finally:
        _invoke(env, "release.down", "--project", project)


def _driver(profile: Path) -> object:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")  # a new, empty profile
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def test_page_ingests_and_finds_a_document_through_nginx(kept, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, _project, _env = kept
    marker = uuid.uuid4().hex[:10]
    text = f"Otters hold hands while sleeping so they do not drift apart ({marker})."
    driver = _driver(tmp_path / "chromium-profile")
    try:
        driver.get(url + "/")
        wait = WebDriverWait(driver, 120)
        assert driver.title.startswith("Dify")
        wait.until(ec.text_to_be_present_in_element((By.ID, "health"), "api: ok"))
        dataset = driver.find_element(By.ID, "dataset")
        dataset.clear()
        dataset.send_keys(f"browser-{marker}")
        driver.find_element(By.ID, "ingest-text").send_keys(text)
        driver.find_element(By.ID, "ingest-submit").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "ingest-status"), "completed"))
        doc_id = driver.find_element(By.ID, "ingest-status").get_attribute("data-id")
        assert doc_id
        driver.find_element(By.ID, "search-query").send_keys(f"otters sleeping {marker}")
        driver.find_element(By.ID, "search-submit").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "search-status"), "result(s)"))
        results = driver.find_elements(By.CSS_SELECTOR, "#results li.result")
        assert results, driver.find_element(By.ID, "search-status").text
        assert results[0].get_attribute("data-document-id") == doc_id
        assert marker in results[0].find_element(By.CSS_SELECTOR, ".text").text
        shot = tmp_path / "smoke-page.png"
        assert driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000, "blank screenshot"
    finally:
        driver.quit()


def test_release_down_removes_the_kept_deployment(kept) -> None:
    from stack.engine.client import client
    from stack.release.deploy import LABEL_SMOKE

    _url, project, env = kept
    proc = _invoke(env, "release.down", "--project", project, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    f = {"label": [f"{LABEL_SMOKE}={project}"]}
    c = client()
    left = [
        *c.containers.list(all=True, filters=f, sparse=True),
        *c.networks.list(filters=f),
        *c.volumes.list(filters=f),
    ]
    assert left == []
    assert list(Path(env["STACK_SMOKE_DIR"]).glob("stack-smoke-*")) == []
    again = _invoke(env, "release.down", "--project", project, timeout=120)
    assert again.returncode == 1
    assert f"no smoke deployment {project!r} exists" in again.stderr
