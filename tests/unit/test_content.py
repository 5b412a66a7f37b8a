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
