"""Normalising teen text keeps spans into the original."""

from __future__ import annotations

import pytest

from nlu.cues import cue_evidence
from nlu.normalize import MONEY_TOKEN, PHONE_TOKEN, URL_TOKEN, fold, normalize, tokenize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Chuyển KHOẢN ngay", "chuyen khoan ngay"),
        ("ko dc đâu", "khong duoc dau"),
        ("ngayyyy điiii", "ngay di"),
        ("ck 2tr cho t", f"chuyen khoan {MONEY_TOKEN} cho tao"),
        ("goi 0912 345 678 nhe", f"goi {PHONE_TOKEN} nhe"),
        ("vao hxxps://vcb-xacminh[.]top/a", f"vao {URL_TOKEN}"),
        ("Đăng nhập tại shopee-qua.vip", f"dang nhap tai {URL_TOKEN}"),
        ("", ""),
        ("😭😭😭", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_fold_decomposed_input() -> None:
    assert fold("Tiếng Việt") == fold("Tiếng Việt") == "tieng viet"


def test_every_token_points_into_the_original() -> None:
    raw = "Anh ơi, ck 500k qua stk 0123456789 nhé 😊"
    for token in tokenize(raw):
        assert 0 <= token.start < token.end <= len(raw)
        assert raw[token.start : token.end].strip() == raw[token.start : token.end]


def test_cue_evidence_quotes_the_original_words() -> None:
    raw = "ck 2tr ngay ko t tung anh m len group truong"
    found = cue_evidence(raw)
    assert {"fear", "control", "crisis"} <= set(found)  # crisis: a leak threat with a demand, now
    for spans in found.values():
        for ev in spans:
            assert raw[ev.start : ev.end] == ev.text


def test_hyperbole_and_past_events_are_not_crisis() -> None:
    assert "crisis" not in cue_evidence("bài hình này khó muốn chết luôn á")
    assert "crisis" not in cue_evidence("năm ngoái nó dọa tung ảnh đòi ck 2tr, mình đã chặn")
    assert "crisis" in cue_evidence("mình muốn chết")


@pytest.mark.parametrize(
    "raw", ["", "   ", "😀" * 50, "x" * 100_000, "http://a.com", "123 456", "Привет мир 你好"]
)
def test_bad_input_finds_no_cue(raw: str) -> None:
    assert cue_evidence(raw) == {}
