"""The counselor console driven in a real headless browser (Debian's chromium via Selenium and
chromium-driver) against a real `notalone serve` process; screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import free_port

pytestmark = pytest.mark.browser
NOTALONE = str(Path(sys.executable).parent / "notalone")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
CRISIS = "mình không muốn sống nữa, tối nay mình sẽ uống hết thuốc"
SCAM = "Cục Cảnh sát: bạn liên quan đường dây rửa tiền. Không được nói với ai, chuyển 20 triệu ngay. <b>x</b>"


Chat = Callable[[list[dict[str, str]]], None]


@pytest.fixture
def server(tmp_path: Path, nlu_cache: Path) -> Iterator[tuple[str, Chat]]:
    """`notalone serve` on a fresh database with one case waiting, and a way for students to write
    (`notalone chat --jsonl`, another process on the same database) while it runs."""
    config = tmp_path / "config.yaml"
    config.write_text("storage:\n  data_dir: data\nconsole:\n  secure_cookies: false\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
    env["NOTALONE_NLU__CACHE_DIR"] = str(nlu_cache)
    base = [NOTALONE, "--config", str(config)]
    for name in ("anna", "binh"):
        subprocess.run(
            [*base, "counselor", "add", name],
            input=f"mat-khau-{name}-1\n".encode(),
            env=env,
            check=True,
            capture_output=True,
        )

    def chat(lines: list[dict[str, str]]) -> None:
        subprocess.run(
            [*base, "chat", "--jsonl"],
            input="\n".join(json.dumps(x, ensure_ascii=False) for x in lines).encode(),
            env=env,
            check=True,
            capture_output=True,
        )

    chat([{"user": "hs1", "text": SCAM}, {"user": "hs1", "action": "talk_to_counselor"}])
    port = free_port()
    process = subprocess.Popen([*base, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, chat
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def browser() -> Iterator[object]:
    if not (CHROMIUM and DRIVER):
        pytest.fail("Debian's chromium and chromium-driver are needed (scripts/setup installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_counselor_logs_in_claims_and_answers(server: tuple[str, Chat], browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    def wait_for(by: str, what: str) -> object:
        return WebDriverWait(driver, 20).until(ec.presence_of_element_located((by, what)))

    driver = browser  # type: ignore[assignment]
    server, chat = server  # type: ignore[assignment]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert "server" not in httpx.get(f"{server}/console/login").headers  # no `server: uvicorn` banner
    driver.get(f"{server}/console/")  # type: ignore[attr-defined]
    assert "/console/login" in driver.current_url  # type: ignore[attr-defined]
    driver.find_element(By.NAME, "name").send_keys("anna")  # type: ignore[attr-defined]
    driver.find_element(By.NAME, "password").send_keys("mat-khau-anna-1")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # type: ignore[attr-defined]
    wait_for(By.CSS_SELECTOR, "#rows tr a")
    assert "Đang chờ" in driver.find_element(By.ID, "rows").text  # type: ignore[attr-defined]
    driver.save_screenshot(str(ARTIFACTS / "console-queue.png"))  # type: ignore[attr-defined]
    # Under the Content-Security-Policy (no inline code) the stylesheet applies and the live queue
    # runs: a student in danger writes (another process), and without a reload the urgent case is
    # in the queue, above the other, with a banner and the count in the tab's title.
    header = driver.find_element(By.TAG_NAME, "header")  # type: ignore[attr-defined]
    assert header.value_of_css_property("background-color") == "rgba(29, 36, 48, 1)"
    driver.execute_script("document.querySelector('#rows tr').dataset.old = '1'")  # type: ignore[attr-defined]
    assert not driver.find_element(By.ID, "alert").is_displayed()  # type: ignore[attr-defined]
    chat([{"user": "hs2", "text": CRISIS}])
    WebDriverWait(driver, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#rows tr a")) == 2)
    banner = driver.find_element(By.ID, "alert")  # type: ignore[attr-defined]
    assert banner.is_displayed() and "Ca khẩn cấp mới" in banner.text
    # Read in one go: the live queue may replace the rows between two WebDriver calls.
    first = driver.execute_script("return document.querySelector('#rows tr').innerText")  # type: ignore[attr-defined]
    assert "Khẩn cấp" in first and "không muốn sống" in first
    assert driver.title.startswith("(2) ")  # type: ignore[attr-defined]
    assert not driver.find_elements(By.CSS_SELECTOR, "#rows tr[data-old]")  # type: ignore[attr-defined]
    driver.save_screenshot(str(ARTIFACTS / "console-queue-alert.png"))  # type: ignore[attr-defined]
    # The rows are replaced when the queue changes: follow the link's address, not the element.
    case_url = driver.execute_script("return document.querySelector('#rows tr:nth-child(2) a').href")  # type: ignore[attr-defined]
    driver.get(case_url)  # type: ignore[attr-defined]
    wait_for(By.XPATH, "//button[text()='Nhận ca']")
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "Cục Cảnh sát" in body and "<b>x</b>" in body  # shown as text, not markup
    assert driver.find_elements(By.CSS_SELECTOR, "mark")  # type: ignore[attr-defined]  # evidence highlighted
    driver.find_element(By.XPATH, "//button[text()='Nhận ca']").click()  # type: ignore[attr-defined]
    wait_for(By.XPATH, "//button[text()='Gửi']")
    driver.find_element(By.NAME, "text").send_keys("Chị đây, em đừng chuyển tiền nhé.")  # type: ignore[attr-defined]
    driver.find_element(By.XPATH, "//button[text()='Gửi']").click()  # type: ignore[attr-defined]
    wait_for(By.XPATH, "//*[contains(text(), 'Chị đây, em đừng chuyển tiền nhé.')]")
    assert "Chị đây, em đừng chuyển tiền nhé." in driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    # A ready-made reply: Alt+2 puts "are you safe?" in the box, the counselor adds a word, and
    # Ctrl+Enter sends it.
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, "reply")  # type: ignore[attr-defined]
    box.send_keys(Keys.ALT, "2")
    assert "bạn có đang an toàn không?" in box.get_attribute("value")
    box.send_keys(" Mình chờ bạn nhé.")
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for(By.XPATH, "//*[contains(text(), 'Mình chờ bạn nhé.')]")
    sent = driver.find_elements(By.CSS_SELECTOR, ".msg.counselor .text")  # type: ignore[attr-defined]
    assert "bạn có đang an toàn không?" in sent[-1].text and sent[-1].text.endswith("Mình chờ bạn nhé.")
    driver.save_screenshot(str(ARTIFACTS / "console-case.png"))  # type: ignore[attr-defined]

    # The risk checklist, then the case handed to binh with a note.
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.NAME, "safe_now")).select_by_value("no")  # type: ignore[attr-defined]
    Select(driver.find_element(By.NAME, "self_harm")).select_by_value("thoughts")  # type: ignore[attr-defined]
    old_page = driver.find_element(By.NAME, "safe_now")  # type: ignore[attr-defined]
    driver.find_element(By.XPATH, "//button[text()='Lưu đánh giá']").click()  # type: ignore[attr-defined]
    WebDriverWait(driver, 20).until(ec.staleness_of(old_page))  # the page after the POST
    wait_for(By.NAME, "safe_now")
    assert Select(driver.find_element(By.NAME, "safe_now")).first_selected_option.text == "Không"  # type: ignore[attr-defined]
    Select(driver.find_element(By.NAME, "to")).select_by_visible_text("binh")  # type: ignore[attr-defined]
    driver.find_element(By.NAME, "note").send_keys("Bạn ấy ở nhà một mình, cần gọi 111.")  # type: ignore[attr-defined]
    driver.find_element(By.XPATH, "//button[text()='Bàn giao']").click()  # type: ignore[attr-defined]
    wait_for(By.XPATH, "//*[contains(text(), 'Bàn giao cho binh')]")
    assert not driver.find_elements(By.ID, "reply")  # type: ignore[attr-defined]  # anna no longer replies
    case_url = driver.current_url  # type: ignore[attr-defined]
    driver.find_element(By.XPATH, "//button[text()='Đăng xuất']").click()  # type: ignore[attr-defined]
    wait_for(By.NAME, "password")

    # binh resolves it: referred to 111 by phone, a follow-up tomorrow.
    driver.find_element(By.NAME, "name").send_keys("binh")  # type: ignore[attr-defined]
    driver.find_element(By.NAME, "password").send_keys("mat-khau-binh-1")  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # type: ignore[attr-defined]
    wait_for(By.ID, "rows")
    driver.get(case_url)  # type: ignore[attr-defined]
    wait_for(By.ID, "reply")
    Select(driver.find_element(By.NAME, "outcome")).select_by_value("referred_111")  # type: ignore[attr-defined]
    Select(driver.find_element(By.NAME, "referral")).select_by_value("hotline_111")  # type: ignore[attr-defined]
    tomorrow = driver.find_element(By.NAME, "follow_up_on").get_attribute("min")  # type: ignore[attr-defined]
    driver.execute_script(  # type: ignore[attr-defined]
        "document.querySelector('input[name=follow_up_on]').value = arguments[0]", tomorrow
    )
    driver.find_element(By.XPATH, "//button[text()='Đóng ca']").click()  # type: ignore[attr-defined]
    wait_for(By.XPATH, "//*[contains(text(), 'Chuyển tiếp: Tổng đài 111')]")
    body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    assert "Hẹn liên lạc lại" in body and "Đã xong" in body
    driver.save_screenshot(str(ARTIFACTS / "console-resolved.png"))  # type: ignore[attr-defined]
    driver.get(f"{server}/console/stats")  # type: ignore[attr-defined]
    wait_for(By.TAG_NAME, "svg")
    driver.save_screenshot(str(ARTIFACTS / "console-stats.png"))  # type: ignore[attr-defined]


AXE = Path(__file__).resolve().parents[1] / "browser" / "node_modules" / "axe-core" / "axe.min.js"


def serious_violations(driver: Any) -> list[str]:
    """axe-core's serious and critical findings on the page now (axe is given to the page by the
    test driver, from the npm package scripts/setup installs; the page itself loads nothing new)."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map("
        "v => [v.id, v.impact, v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')])));"
    )
    return [
        f"{rule} ({impact}): {where}" for rule, impact, where in found if impact in ("serious", "critical")
    ]


def test_console_pages_have_no_serious_accessibility_problems(
    server: tuple[str, Chat], browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert AXE.exists(), "axe-core is missing: run scripts/setup (it installs tests/browser's npm packages)"
    driver: Any = browser
    url, chat = server
    chat([{"user": "hs2", "text": "mình không muốn sống nữa, tối nay mình sẽ uống hết thuốc"}])
    driver.set_script_timeout(30)
    driver.get(f"{url}/console/login")
    problems = {"login": serious_violations(driver)}
    driver.find_element(By.NAME, "name").send_keys("anna")
    driver.find_element(By.NAME, "password").send_keys("mat-khau-anna-1")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#rows tr a")))
    problems["queue"] = serious_violations(driver)
    case_url = driver.execute_script("return document.querySelector('#rows tr a').href")
    driver.get(case_url)
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.XPATH, "//button[text()='Nhận ca']")))
    driver.find_element(By.XPATH, "//button[text()='Nhận ca']").click()
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, "reply")))
    problems["case"] = serious_violations(driver)
    driver.get(f"{url}/console/stats")
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.TAG_NAME, "svg")))
    problems["stats"] = serious_violations(driver)
    assert not any(problems.values()), problems


def test_console_fits_a_phone(server: tuple[str, Chat], browser: object) -> None:
    """At a phone's width (390 px) no page scrolls sideways: long tables scroll in their own box."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver: Any = browser
    url, _ = server
    driver.set_window_size(390, 844)
    driver.get(f"{url}/console/login")
    driver.find_element(By.NAME, "name").send_keys("anna")
    driver.find_element(By.NAME, "password").send_keys("mat-khau-anna-1")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#rows tr a")))
    case_url = driver.execute_script("return document.querySelector('#rows tr a').href")
    sideways = "return document.documentElement.scrollWidth - window.innerWidth"
    widths = {"queue": driver.execute_script(sideways)}
    driver.save_screenshot(str(ARTIFACTS / "console-queue-phone.png"))
    for page in (case_url, f"{url}/console/stats", f"{url}/console/search?status=waiting"):
        driver.get(page)
        WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.TAG_NAME, "main")))
        widths[page.rsplit("/", 1)[-1]] = driver.execute_script(sideways)
    assert all(w <= 1 for w in widths.values()), widths
