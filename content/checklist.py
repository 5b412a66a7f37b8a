"""The mechanical part of content/CHECKLIST.md: checks every teen-facing text can be put through.

Each check returns problem strings; the loader prefixes them with file and field.
"""

from __future__ import annotations

import re

VIETNAMESE_MARKS = set("ăâđêôơưáàảãạấầẩẫậắằẳẵặéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ")
HOTLINES = {"111", "113", "114", "115"}
PLACEHOLDER = re.compile(r"TODO|TBD|FIXME|XXX|lorem|\?\?\?|\[\[|\]\]|<[a-z_]+>", re.IGNORECASE)
BLAME = [
    "lỗi của bạn",
    "tại bạn",
    "do bạn cả tin",
    "bạn ngốc",
    "bạn dại",
    "ai bảo bạn",
    "đáng lẽ bạn",
    "sao bạn lại",
    "bạn cả tin",
    "bạn thật ngây thơ",
    "đáng đời",
]
SAFE_CLAIMS = ["an toàn rồi", "tin nhắn này an toàn", "không phải lừa đảo", "không sao đâu", "yên tâm đi"]
# Doing what a scammer asks: allowed only when negated just before ("đừng chuyển tiền").
COMPLIANCE = [
    "chuyển tiền",
    "chuyển khoản",
    "trả tiền",
    "nạp thẻ",
    "nạp tiền",
    "gửi ảnh",
    "gửi hình",
    "gửi clip",
    "gửi mã",
    "đưa mã",
    "cung cấp mã",
    "gửi otp",
    "đọc mã",
    "cung cấp mật khẩu",
    "bật camera",
    "ra gặp",
]
NEGATIONS = [
    "đừng",
    "không",
    "chớ",
    "không bao giờ",
    "tuyệt đối không",
    "không được",
    "không cần",
    "thay vì",
    "không ai",
]
JARGON = ["phishing", "malware", "ransomware", "social engineering", "spoofing"]
TRUSTED_ADULT = ["bố mẹ", "người lớn", "thầy cô", "người thân", "ba mẹ", "cha mẹ", "giáo viên"]


def diacritics_ratio(text: str) -> float:
    """The share of words that carry a Vietnamese mark (full diacritics give about half or more)."""
    words = [w for w in re.findall(r"[^\W\d_]+", text.lower()) if len(w) > 1]
    if not words:
        return 1.0
    return sum(1 for w in words if set(w) & VIETNAMESE_MARKS) / len(words)


# Fields that tell the student what to do; the others describe what the scammer does.
ADVICE_FIELDS = {
    "do_now",
    "get_out",
    "who_to_tell",
    "when_to_call",
    "what_to_do",
    "first_step",
    "steps",
    "comfort",
    "explain",
    "step",
    "verdict",
    "tell",
    "already_did",
    "ack",
    "call",
    "details",
    "for_other",
    "with_scam",
    "proof",
    "pushback",
    "texts",
    "howto",
    # not "lead" ("Bạn đã lỡ chuyển tiền, làm ngay:" tells what happened, it advises nothing)
}
# Fields that quote a scam message: only checked for placeholders.
QUOTED_FIELDS = {"example", "message"}


def check_text(
    text: str, *, placeholders_ok: bool = False, quoted_scam: bool = False, advice: bool = True
) -> list[str]:
    """Problems of one teen-facing text. `quoted_scam` texts only get the basics; `advice` texts must
    never tell the student to do what a scammer asks."""
    problems: list[str] = []
    if PLACEHOLDER.search(text) or (not placeholders_ok and re.search(r"\{[^}]*\}", text)):
        problems.append("placeholder left in the text")
    if quoted_scam:
        return problems
    lower = text.lower()
    if len(re.findall(r"[^\W\d_]+", text)) >= 6 and diacritics_ratio(text) < 0.25:
        problems.append("missing diacritics (write full Vietnamese with dấu)")
    for number in re.findall(r"(?<![\d.,])\d{3}(?![\d.,]?\d)", text):
        if number not in HOTLINES:
            problems.append(f"number {number}: only hotlines 111, 113 (114, 115) belong here")
    for phrase in BLAME:
        for m in re.finditer(re.escape(phrase), lower):
            before = lower[max(0, m.start() - 15) : m.start()]
            if not any(n in before for n in ("không phải", "chẳng phải", "đâu phải", "không hề")):
                problems.append(f"victim blaming: {phrase!r}")
    problems += [f"declares a message safe: {p!r}" for p in SAFE_CLAIMS if p in lower]
    problems += [f"jargon a teen may not know: {p!r}" for p in JARGON if p in lower]
    for phrase in COMPLIANCE if advice else []:
        for m in re.finditer(re.escape(phrase), lower):
            before = lower[max(0, m.start() - 30) : m.start()]
            if not any(n in before for n in NEGATIONS):
                problems.append(f"may advise doing what the scammer asks: {phrase!r} without 'đừng/không'")
    return problems


def mentions_trusted_adult(*texts: str) -> bool:
    """True when one of the texts tells the student to involve a trusted adult."""
    joined = " ".join(texts).lower()
    return any(p in joined for p in TRUSTED_ADULT)
