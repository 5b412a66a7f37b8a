"""Original writing: no two examples of the training and dev data are near-duplicates."""

from __future__ import annotations

from nlu.data import DEV_DIR, TRAINING_DIR, Example, load_examples
from nlu.similarity import near_duplicates


def example(text: str) -> Example:
    return Example(text=text, tactics=frozenset(), crisis=False)


def test_finds_a_near_duplicate_across_spelling() -> None:
    pairs = near_duplicates(
        [
            example("Chuyển tiền ngay vào tài khoản này không tao tung ảnh"),
            example("Chuyen tien ngay vao tai khoan nay khong tao tung anh!!"),
            example("hôm nay căng tin có bánh mì"),
        ]
    )
    assert len(pairs) == 1


def test_training_and_dev_data_have_no_near_duplicates() -> None:
    pairs = near_duplicates(load_examples(TRAINING_DIR) + load_examples(DEV_DIR))
    assert not pairs, [(a.source, b.source) for a, b in pairs[:5]]
