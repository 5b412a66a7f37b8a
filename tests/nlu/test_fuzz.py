"""Property-based fuzzing (hypothesis) of what reads untrusted text: the normaliser, the classifier,
red-flag extraction, text cleaning and Zalo update parsing (the webhooks: tests/integration/test_fuzz_webhooks.py).
The property is always the same: no crash, results inside the input, within bounded time."""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.zalo.updates import BadUpdate, parse_update, to_incoming
from handlers.text import clean_text
from nlu.normalize import normalize, tokenize
from nlu.redflags import defang, find_red_flags

# Vietnamese letters, teencode, URLs, digits, emoji, control and invisible characters.
ALPHABET = st.sampled_from(
    list(string.printable)
    + list("ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵĐƯƠ")
    + [
        "\u200b",
        "\u202e",
        "\ufeff",
        "\x00",
        "\x1b",
        "😨",
        "🔗",
        "[.]",
        "(.)",
        "hxxp://",
        "https://",
        ".vn",
        ".xyz",
    ]
)
TEXT = st.lists(ALPHABET, max_size=400).map("".join)
FAST = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(TEXT)
def test_normaliser_keeps_spans_inside_the_text(text: str) -> None:
    for token in tokenize(text):
        assert 0 <= token.start < token.end <= len(text)
    normalize(text)


@FAST
@given(TEXT)
def test_red_flags_are_inside_the_text_and_links_defanged(text: str) -> None:
    for flag in find_red_flags(text):
        assert 0 <= flag.start < flag.end <= len(text)
        if flag.kind.value == "link":
            assert "http" not in flag.shown.lower()
    assert "http://" not in defang(text).lower() and "https://" not in defang(text).lower()


@FAST
@given(st.one_of(TEXT, st.none()), st.integers(min_value=1, max_value=500))
def test_cleaning_bounds_the_text(text: str | None, limit: int) -> None:
    cleaned = clean_text(text, max_chars=limit)
    assert len(cleaned.text) <= limit


@settings(max_examples=150, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(TEXT)
async def test_classifier_answers_anything(embedded: Any, text: str) -> None:
    analysis = await embedded.analyze(text)
    for evidence in analysis.evidence:
        assert 0 <= evidence.start <= evidence.end <= len(text)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
UPDATE_LIKE = st.fixed_dictionaries(
    {"event_name": st.sampled_from(["message.text.received", "message.image.received", "x", ""]) | JSON},
    optional={
        "message": st.fixed_dictionaries(
            {},
            optional={
                "from": st.fixed_dictionaries(
                    {}, optional={"id": JSON, "display_name": JSON, "is_bot": JSON}
                ),
                "chat": st.fixed_dictionaries({}, optional={"id": JSON, "chat_type": JSON}),
                "text": JSON,
                "message_id": JSON,
                "photo_url": JSON,
                "caption": JSON,
            },
        )
        | JSON
    },
)


@settings(max_examples=400, deadline=1000)
@given(st.one_of(JSON, UPDATE_LIKE, st.fixed_dictionaries({"ok": st.booleans(), "result": UPDATE_LIKE})))
def test_zalo_updates_parse_or_are_refused(payload: Any) -> None:
    try:
        update = parse_update(payload)
    except BadUpdate:
        return
    to_incoming(update)
