"""Original writing: no two examples of the training and dev data are near-duplicates."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def checker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("check_nlu_data", ROOT / "scripts" / "check_nlu_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checker_finds_a_near_duplicate() -> None:
    rows = [
        ("Chuyển tiền ngay vào tài khoản này không tao tung ảnh", "fear+control", "a"),
        ("Chuyen tien ngay vao tai khoan nay khong tao tung anh!!", "fear+control", "b"),
        ("hôm nay căng tin có bánh mì", "benign", "c"),
    ]
    assert len(checker().near_duplicates(rows)) == 1


def test_training_and_dev_data_have_no_near_duplicates() -> None:
    assert checker().main([str(ROOT / "nlu" / "data"), str(ROOT / "nlu" / "eval")]) == 0
