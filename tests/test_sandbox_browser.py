"""The sandbox in a real browser: `bot.py sandbox` in its own process, its page driven by headless
Chromium (Debian's chromium and chromium-driver, through Selenium). A resident files a report by
tapping the page's buttons, the grid worker accepts it, the resident sees the change; the
screenshot the README shows (docs/sandbox.png) is taken on the way.

Skipped only where Chromium is missing outside CI; in CI (LINLI_CI=1, set by .ci/run, which
installs Chromium) a missing browser fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "docs" / "sandbox.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
WAIT = 15.0  # seconds for one step of the page (a machine shared with others is slow)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`bot.py sandbox` with the demo village on a fresh database; its page's address."""
    folder = tmp_path_factory.mktemp("sandbox")
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "DATABASE_URL", "REDIS_URL", "TELEGRAM_", "WEBHOOK_"))
    }
    process = subprocess.Popen(  # noqa: S603 - our own command line
        [
            sys.executable,
            str(ROOT / "bot.py"),
            "sandbox",
            "--port",
            str(port),
            "--api-port",
            "0",
            "--data",
            str(folder / "sandbox.db"),
        ],
        cwd=folder,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=(log := (folder / "out.txt").open("wb")),
        stderr=subprocess.STDOUT,
    )
    page = f"http://127.0.0.1:{port}"
    log.close()  # the child has its own copy
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{page}/api/state", timeout=2) as answer:
                    assert json.load(answer)["personas"]
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = (folder / "out.txt").read_text(errors="replace")
                    raise AssertionError(f"the sandbox did not start:\n{output}") from None
                time.sleep(0.2)
        yield page
    finally:
        process.terminate()
        try:
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (CHROMIUM and DRIVER):
        why = "chromium and chromium-driver are not installed (apt-get install chromium-driver)"
        if os.environ.get("LINLI_CI") == "1" or os.environ.get("CI") == "true":
            pytest.fail(f"in CI the browser test must run: {why}")
        pytest.skip(why)

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,860",
        "--lang=zh-CN",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_report_filed_and_accepted_on_the_page(sandbox: str, browser) -> None:  # type: ignore[no-untyped-def]

    driver = browser
    wait = WebDriverWait(driver, WAIT, ignored_exceptions=[StaleElementReferenceException])
    started = time.monotonic()

    def bubble(text: str):  # type: ignore[no-untyped-def]
        """The latest message bubble of the open chat that contains `text`."""
        path = f"//div[@id='messages']/div[contains(@class,'msg')][contains(., '{text}')]"
        wait.until(shown.presence_of_element_located((By.XPATH, path)))
        return driver.find_elements(By.XPATH, path)[-1]

    def tap(text: str, button: str) -> None:
        """Tap `button` under the latest bubble containing `text`."""
        path = f".//button[contains(@class,'inline')][contains(., '{button}')]"

        def tapped(_driver: object) -> bool:
            found = bubble(text).find_elements(By.XPATH, path)
            if found:
                found[0].click()
            return bool(found)

        wait.until(tapped)

    def say(text: str) -> None:
        box = driver.find_element(By.ID, "text")
        box.send_keys(text)
        driver.find_element(By.ID, "send").click()

    def be(persona: str) -> None:
        driver.find_element(By.CSS_SELECTOR, f"#personas li[data-persona='{persona}']").click()
        wait.until(
            lambda _d: (
                "active"
                in driver.find_element(
                    By.CSS_SELECTOR, f"#personas li[data-persona='{persona}']"
                ).get_attribute("class")
            )
        )

    driver.get(sandbox)
    wait.until(shown.presence_of_element_located((By.CSS_SELECTOR, "#personas li")))
    personas = [
        li.get_attribute("data-persona")
        for li in driver.find_elements(By.CSS_SELECTOR, "#personas li")
    ]
    assert personas == ["district", "admin", "worker", "reviewer", "elder", "resident", "tenant"]

    # the resident (孙丽, of 一网格) files a report with the page's buttons
    be("resident")
    say("/report")
    tap("哪一类问题", "道路设施")
    bubble("说明问题")
    say("村口水泥路塌了一个坑，晚上骑车危险")
    bubble("在哪里")
    say("村口小卖部旁")
    tap("地点：村口小卖部旁", "下一步")
    tap("显示您的名字", "显示我的名字")
    tap("请核对", "提交报事")
    filed = wait.until(lambda _d: bubble("已提交").text)
    number = next(word for word in filed.split() if word.startswith("R-"))
    assert number.startswith("R-20")

    # the grid worker (李网格员) has it as a task and accepts it
    be("worker")
    wait.until(lambda _d: "新报" in bubble(number).text)
    tap(number, "受理")
    toast = driver.find_element(By.ID, "toast")
    assert wait.until(lambda _d: toast.is_displayed() and "已受理" in toast.text)
    wait.until(lambda _d: "已受理" in bubble(number).text)  # the card, edited in place
    assert wait.until(lambda _d: "已编辑" in bubble(number).text)

    # the resident sees the change
    be("resident")
    accepted = wait.until(lambda _d: bubble(f"{number} 已由网格员").text)
    assert "李网格员" in accepted and "受理" in accepted
    driver.execute_async_script("document.fonts.ready.then(arguments[0])")
    time.sleep(0.5)  # the last paint
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 20_000
    print(f"browser walkthrough: {time.monotonic() - started:.1f} s")  # noqa: T201
