"""Pasted chat transcripts are split into turns; tactics and quotes come from the other party's lines."""

from __future__ import annotations

import pytest

from nlu.chatlog import split_chat
from nlu.embedded import EmbeddedClassifier


def theirs(text: str) -> str | None:
    chat = split_chat(text)
    return chat.other_text(text) if chat else None


class TestSplit:
    @pytest.mark.parametrize(
        ("text", "other"),
        [
            (
                "[08:15] Thu Hà: mai đi học sớm nha | [08:16] Tôi: ok | [08:16] Thu Hà: nhớ đem vở Toán",
                "mai đi học sớm nha. nhớ đem vở Toán",
            ),
            ("Anh Tuấn: em gửi ảnh đi\nTôi: không\nAnh Tuấn: gửi đi mà", "em gửi ảnh đi. gửi đi mà"),
            ("21:03 Chị Mai: chuyển giúp chị 2tr nha  21:04 Bạn: dạ để em hỏi mẹ", "chuyển giúp chị 2tr nha"),
            ("Me: who is this / Jake: ur pics r mine now / Me: stop", "ur pics r mine now"),
        ],
    )
    def test_the_other_party_lines(self, text: str, other: str) -> None:
        assert theirs(text) == other

    @pytest.mark.parametrize(
        "text",
        [
            "Lưu ý: tài khoản của bạn sẽ bị khóa trong 24h nếu không xác minh.",
            "Thầy Hùng: mai lớp nghỉ tiết 3, các em tự ôn bài",  # one speaker: a forwarded notice
            "Minh: đi đá banh ko | Khoa: ok 5h nha",  # no line of the student's: nothing to leave out
            "em hỏi: cái này có phải lừa đảo không ạ?",
        ],
    )
    def test_not_a_chat(self, text: str) -> None:
        assert split_chat(text) is None

    def test_the_student_s_lines_and_every_name_are_never_theirs(self) -> None:
        text = "Anh Khoa: đừng nói mẹ nha | Tôi: em sẽ chuyển tiền"
        chat = split_chat(text)
        assert chat is not None
        hidden = "".join(text[a:b] for a, b in chat.not_theirs())
        assert "em sẽ chuyển tiền" in hidden and "Anh Khoa" in hidden and "đừng nói mẹ" not in hidden


class TestAnalysis:
    def test_the_student_s_own_demand_is_not_quoted(self, embedded: EmbeddedClassifier) -> None:
        text = (
            "[20:01] Tôi: chuyển tiền cho t đi, t cần gấp | [20:02] Hải Nam: tiền gì, t ko có | "
            "[20:02] Tôi: thôi bỏ qua | [20:03] Hải Nam: mai đi học nhớ mang vở nha"
        )
        analysis = embedded.analyze_batch([text])[0]
        assert not any("chuyển tiền" in e.text for e in analysis.evidence)
        assert "control" not in [t.value for t in analysis.tactics]
