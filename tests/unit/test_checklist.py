"""The content check fails on every checklist breach it can detect mechanically."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from content.checklist import check_text
from content.loader import LIBRARY, ContentError, load_library
from handlers.ports import ACTIONS, TEXT_KEYS, WORD_LIMITS


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Đây là lỗi của bạn vì bạn quá tin người khác.", "victim blaming"),
        ("Bạn hãy chuyển tiền cho họ để mọi chuyện kết thúc nhanh.", "may advise"),
        ("Cứ gửi ảnh cho anh ấy, rồi mọi chuyện sẽ ổn thôi mà.", "may advise"),
        ("Tin nhắn này an toàn, bạn cứ yên tâm mà làm theo nhé.", "declares a message safe"),
        ("Gọi ngay 112 để được giúp đỡ, miễn phí cả ngày đêm.", "number 112"),
        ("Ban hay goi cho bo me va ke lai moi chuyen ngay nhe", "missing diacritics"),
        ("Gọi ngay TODO để được giúp, bạn nhé, không sao cả.", "placeholder"),
        ("Đây là một vụ phishing rất phổ biến trên mạng hiện nay.", "jargon"),
    ],
)
def test_each_breach_is_caught(text: str, problem: str) -> None:
    assert any(problem in p for p in check_text(text))


@pytest.mark.parametrize(
    "text",
    [
        "Không phải lỗi của bạn. Đừng chuyển tiền, không gửi ảnh, kể ngay với bố mẹ và gọi 111 hoặc 113.",
        "Bạn không có lỗi gì cả. Tuyệt đối không gửi mã OTP cho ai.",
    ],
)
def test_good_advice_passes(text: str) -> None:
    assert check_text(text) == []


def test_breaches_in_library_files_are_reported_with_file_and_field(tmp_path: Path) -> None:
    shutil.copytree(LIBRARY, tmp_path / "lib")
    path = tmp_path / "lib" / "vi" / "scenarios" / "prize.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    adults = ("bố mẹ", "người lớn", "thầy cô", "người thân", "ba mẹ", "cha mẹ", "giáo viên")

    def without_adults(value):  # type: ignore[no-untyped-def]
        if isinstance(value, list):
            return [without_adults(v) for v in value]
        if isinstance(value, dict):
            return {k: without_adults(v) for k, v in value.items()}
        if isinstance(value, str):
            for word in adults:
                value = value.replace(word, "bạn bè").replace(word.capitalize(), "Bạn bè")
        return value

    doc = {k: without_adults(v) for k, v in doc.items()}
    doc["do_now"][0] = "Hãy chuyển tiền phí nhận quà cho họ thật nhanh nhé."
    doc["who_to_tell"] = "Không cần kể với ai, tự mình xử lý được mà."
    doc["when_to_call"] = "Khi thấy cần thì gọi cho tổng đài nhé bạn."
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    crisis = tmp_path / "lib" / "vi" / "crisis" / "meeting_now.yml"
    doc = yaml.safe_load(crisis.read_text(encoding="utf-8"))
    doc["call"] = "Hít thở thật sâu và bình tĩnh lại một chút nhé."
    crisis.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ContentError) as err:
        load_library(tmp_path / "lib", "vi", text_keys=TEXT_KEYS, actions=ACTIONS)
    problems = str(err.value)
    assert "prize.yml: do_now.0: may advise doing what the scammer asks" in problems
    assert "prize.yml: never tells the student to tell a trusted adult" in problems
    assert "prize.yml: when_to_call: must name 111 or 113" in problems
    assert "meeting_now.yml: call: must name the hotline 111" in problems


def test_texts_that_would_make_an_answer_too_long_are_reported(tmp_path: Path) -> None:
    shutil.copytree(LIBRARY, tmp_path / "lib")
    path = tmp_path / "lib" / "vi" / "scenarios" / "prize.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["steps"] = ["Đừng chuyển tiền cho ai cả, " + "kể với bố mẹ và thầy cô ngay " * 6] * 3
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    # Without limits the library loads: the schema itself does not count words.
    load_library(tmp_path / "lib", "vi", text_keys=TEXT_KEYS, actions=ACTIONS)
    with pytest.raises(ContentError) as err:
        load_library(tmp_path / "lib", "vi", text_keys=TEXT_KEYS, actions=ACTIONS, limits=WORD_LIMITS)
    assert "prize.yml: verdict, tell, steps, already_did: the answer can reach" in str(err.value)
    # The shipped library fits.
    load_library(None, "vi", text_keys=TEXT_KEYS, actions=ACTIONS, limits=WORD_LIMITS)
