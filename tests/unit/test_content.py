"""The content library loads, and the check names file and field of every problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from content.loader import LIBRARY, ContentError, load_library
from handlers.models import Tactic
from handlers.ports import ACTIONS, TEXT_KEYS


def test_real_library_has_every_text_button_and_tactic() -> None:
    lib = load_library(None, "vi", text_keys=TEXT_KEYS, actions=ACTIONS)
    for tactic in Tactic:
        assert lib.tactic_guidance(tactic)
    assert all(lib.label(a) for a in ACTIONS)


def test_problems_are_reported_with_file_and_field(tmp_path: Path) -> None:
    shutil.copytree(LIBRARY, tmp_path / "lib")
    messages = tmp_path / "lib" / "vi" / "messages.yml"
    body = messages.read_text(encoding="utf-8")
    body = body.replace("  hotline: |-", "  hotlin: |-").replace("{limit}", "{limt}")
    messages.write_text(body, encoding="utf-8")
    (tmp_path / "lib" / "vi" / "tactics" / "fear.yml").unlink()
    guide = tmp_path / "lib" / "vi" / "scenarios" / "bank_lock.yml"
    guide.write_text(guide.read_text(encoding="utf-8") + "extra_field: x\n", encoding="utf-8")
    with pytest.raises(ContentError) as err:
        load_library(tmp_path / "lib", "vi", text_keys=TEXT_KEYS, actions=ACTIONS)
    problems = str(err.value).splitlines()
    assert any("texts.hotline: missing" in p and "messages.yml" in p for p in problems)
    assert any("texts.message_truncated: unknown placeholder" in p for p in problems)
    assert any("fear.yml: missing" in p for p in problems)
    assert any("bank_lock.yml: extra_field: Extra inputs are not permitted" in p for p in problems)


def test_canned_replies_load_in_order_and_are_checked_like_teen_facing_text(tmp_path: Path) -> None:
    lib = load_library(None, "vi", text_keys=TEXT_KEYS, actions=ACTIONS)
    canned = lib.canned_replies()
    assert [c.key for c in canned][:3] == ["greeting", "safe_now", "where"]
    assert any("111" in c.text for c in canned) and len(canned) <= 9  # one Alt+digit each
    shutil.copytree(LIBRARY, tmp_path / "lib")
    path = tmp_path / "lib" / "vi" / "canned.yml"
    body = path.read_text(encoding="utf-8")
    body = body.replace("key: where", "key: greeting").replace("gọi ngay 113", "gọi ngay 911")
    body = body.replace(
        "Đây không phải lỗi của bạn. Người đó cố tình lừa bạn và làm bạn sợ. Bạn đã làm đúng khi\n      kể ra. Mình sẽ cùng bạn tìm cách.",
        "day khong phai loi cua ban, nguoi do co tinh lua ban va lam ban so, ban da lam dung",
    )
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ContentError) as err:
        load_library(tmp_path / "lib", "vi", text_keys=TEXT_KEYS, actions=ACTIONS)
    problems = str(err.value)
    assert "canned.yml: replies.2.key: greeting used twice" in problems
    assert "canned.yml: replies.4.text: number 911" in problems
    assert "canned.yml: replies.7.text: missing diacritics" in problems
