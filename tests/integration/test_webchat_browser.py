"""The web chat in Debian's chromium against a real `notalone serve`: at a phone's width, a first
message and its answer, the conversation after a reload, a counselor's reply arriving without a
reload, a crisis with 111 as a tel: link, delete, and no serious accessibility problem."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_console_browser import (  # noqa: F401 - fixtures
    ARTIFACTS,
    AXE,
    NOTALONE,
    Chat,
    browser,
    serious_violations,
    server,
)

pytestmark = pytest.mark.browser
SCAM = "Cục Cảnh sát: bạn liên quan đường dây rửa tiền. Không được nói với ai, chuyển 20 triệu ngay."
CRISIS = "nó bảo 5 phút nữa k gửi thêm ảnh là nó đăng lên group trường, em sợ lắm"


def test_a_student_chats_is_answered_by_a_counselor_and_deletes_it_all(
    server: tuple[str, Chat],  # noqa: F811 - the console test's fixture
    browser: object,  # noqa: F811 - the console test's fixture
    tmp_path: Path,
    nlu_cache: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver: Any = browser
    url, _ = server
    wait = WebDriverWait(driver, 30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(360, 780)
    driver.set_script_timeout(30)
    driver.get(f"{url}/chat/")
    assert driver.find_element(By.CSS_SELECTOR, "header a[href='tel:111']").is_displayed()
    box = driver.find_element(By.ID, "text")
    box.send_keys(SCAM, Keys.ENTER)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#log li.bot .buttons")))
    answer = driver.find_element(By.CSS_SELECTOR, "#log li.bot").text
    assert "“" in answer  # the other party's words, quoted
    assert driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth") <= 1
    driver.save_screenshot(str(ARTIFACTS / "webchat-phone.png"))
    assert AXE.exists(), "axe-core is missing: run scripts/setup"
    assert serious_violations(driver) == []

    driver.refresh()  # the conversation is still there
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#log li.student")))
    assert driver.find_element(By.CSS_SELECTOR, "#log li.student").text.endswith(SCAM)

    talk = driver.find_element(By.XPATH, "//li[contains(@class,'bot')]//button[contains(., 'tư vấn viên')]")
    talk.click()
    count = len(driver.find_elements(By.CSS_SELECTOR, "#log li"))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#log li")) > count)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
    config = str(tmp_path / "config.yaml")
    env["NOTALONE_NLU__CACHE_DIR"] = str(nlu_cache)
    made = subprocess.run(
        [NOTALONE, "--config", config, "counselor", "token", "anna"], env=env, capture_output=True, check=True
    )
    api = httpx.Client(
        base_url=f"{url}/api", headers={"Authorization": f"Bearer {made.stdout.decode().strip()}"}
    )
    case = max((c for c in api.get("/cases?status=waiting").json()), key=lambda c: c["id"])
    assert api.post(f"/cases/{case['id']}/claim").status_code == 200
    assert (
        api.post(f"/cases/{case['id']}/messages", json={"text": "Chị đây, em kể chị nghe nhé."}).status_code
        == 202
    )
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#log"), "Chị đây, em kể chị nghe nhé."))
    assert "Chị đây" in driver.find_elements(By.CSS_SELECTOR, "#log li.counselor")[-1].text  # no reload

    api.post(f"/cases/{case['id']}/resolve", json={"outcome": "advice_given"})
    box = driver.find_element(By.ID, "text")
    count = len(driver.find_elements(By.CSS_SELECTOR, "#log li"))
    box.send_keys(CRISIS, Keys.ENTER)
    wait.until(
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#log li.bot"))
            and d.find_elements(By.CSS_SELECTOR, "#log li.bot")[-1].find_elements(
                By.CSS_SELECTOR, "a[href='tel:111']"
            )
        )
    )

    driver.find_element(By.ID, "delete").click()
    driver.switch_to.alert.accept()
    wait.until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#log li") == []
            or "xóa" in d.find_element(By.ID, "log").text.lower()
        )
    )
    driver.refresh()
    wait.until(ec.presence_of_element_located((By.ID, "text")))
    assert driver.find_elements(By.CSS_SELECTOR, "#log li.student") == []  # nothing kept
