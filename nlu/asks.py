"""Red flags are what the other party asks the student to do or to trust (pay here, send the code, open
this link, move to this app, install this), each once: amounts offered or already lost, a bank named as
the way to pay, an app a threat would be posted on and a real bank's "never share this code" SMS are not
flags; install, log-in and ID-paper requests are (lists in nlu/redflags/asks.yml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from handlers.models import RedFlag, RedFlagKind
from nlu.lexicon import MarkedPhrases, Words, marked_phrases, phrases_of
from nlu.normalize import MONEY_TOKEN, NUMBER_TOKEN, Token, tokenize

ASKS_FILE = Path(__file__).resolve().parent / "redflags" / "asks.yml"
# How far before an amount a pay word may be (in words, within the clause).
PAY_WINDOW = 8
SWITCH_WINDOW = 2
_BREAK = re.compile(r"[.!?;\n]")
_PRIVATE_AFTER = frozenset(
    {
        "minh",
        "anh",
        "chi",
        "em",
        "to",
        "ad",
        "quan",
        "shop",
        "page",
        "nha",
        "nhe",
        "di",
        "voi",
        "ngay",
        "cho",
        "chuyen",
        "de",
    }
)
_ASKING = frozenset({"ru", "bao", "keu", "muon", "hay", "can", "phai", "vui", "long"})
_PAST = frozenset({"da", "lo", "roi", "xong", "vua", "tung"})
_PERCENT = re.compile(r"\d+(?:[.,]\d+)?\s?%")


@dataclass(frozen=True)
class AskLists:
    pay_words: MarkedPhrases
    offered_words: MarkedPhrases
    own_payers: frozenset[str]
    not_a_switch: MarkedPhrases
    switch_words: MarkedPhrases
    never_share: MarkedPhrases
    requests: dict[RedFlagKind, MarkedPhrases]


@lru_cache(maxsize=2)
def load_asks(path: Path = ASKS_FILE) -> AskLists:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return AskLists(
        pay_words=marked_phrases(data["pay_words"]),
        offered_words=marked_phrases(data["offered_words"]),
        own_payers=frozenset(w for p in phrases_of(data["own_payers"]) for w in p),
        not_a_switch=marked_phrases(data["not_a_switch"]),
        switch_words=marked_phrases(data["switch_words"]),
        never_share=marked_phrases(data["never_share"]),
        requests={RedFlagKind(k): marked_phrases(v) for k, v in data["requests"].items()},
    )


def _first_token(tokens: list[Token], start: int) -> int:
    return next((i for i, t in enumerate(tokens) if t.end > start), len(tokens))


def _clause_start(text: str, tokens: list[Token], i: int) -> int:
    for j in range(i, 0, -1):
        if _BREAK.search(text[tokens[j - 1].end : tokens[j].start]):
            return j
    return 0


def _asked_to_pay(text: str, tokens: list[Token], words: Words, i: int, lists: AskLists) -> bool:
    """The amount at token i follows a pay word, nearer than any word that makes it offered money,
    and the pay word is not the student's own act ("em chuyển cọc 50k")."""
    folded = words.folded
    floor = max(_clause_start(text, tokens, i), i - PAY_WINDOW)
    for end in range(i, floor, -1):
        if words.ends_at(lists.offered_words, end):
            return False
        hit = words.ends_at(lists.pay_words, end)
        if hit is not None:
            own = bool(set(folded[max(0, hit[0] - 2) : hit[0]]) & lists.own_payers)
            # "em chuyển ngay 12 triệu" is a demand; "em chuyển cọc 50k rồi" is what the student did.
            return not (own and set(folded[max(0, hit[0] - 3) : i + 6]) & _PAST)
    return False


def _moved(words: Words, j: int, lists: AskLists) -> bool:
    """The app named by token j is where the student is asked to move, not where a threat would be
    posted, where a message came from, or the student's own account ("Zalo của em")."""
    folded = words.folded
    if folded[j + 1 : j + 2] == ("cua",) and set(folded[j + 2 : j + 3]) & lists.own_payers:
        return False
    for end in range(j, max(0, j - SWITCH_WINDOW) - 1, -1):
        if words.ends_at(lists.not_a_switch, end):
            return False
        switch = words.ends_at(lists.switch_words, end)
        if switch is not None:
            return words.ends_at(lists.not_a_switch, switch[0]) is None
    return False


def _requests(text: str, tokens: list[Token], words: Words, lists: AskLists) -> list[RedFlag]:
    found: list[RedFlag] = []
    for kind, phrases in lists.requests.items():
        reason = "install_request" if kind is RedFlagKind.INSTALL else "login_request"
        for i, j in words.find(phrases):
            start, end = tokens[i].start, tokens[j - 1].end
            found.append(RedFlag(kind=kind, start=start, end=end, shown=text[start:end], reasons=(reason,)))
    return found


def _percentages(text: str, tokens: list[Token], words: Words, lists: AskLists) -> list[RedFlag]:
    out = []
    for m in _PERCENT.finditer(text):
        i = _first_token(tokens, m.start())
        if (
            i < len(tokens)
            and words.folded[i] == NUMBER_TOKEN
            and _asked_to_pay(text, tokens, words, i, lists)
        ):
            out.append(
                RedFlag(
                    kind=RedFlagKind.MONEY, start=m.start(), end=m.end(), shown=m.group(), reasons=("money",)
                )
            )
    return out


def asked(text: str, flags: tuple[RedFlag, ...], lists: AskLists | None = None) -> tuple[RedFlag, ...]:
    """The flags that show what the student is asked to do or trust, plus the requests only words
    reveal; each thing once, in the order of the text."""
    lists = lists or load_asks()
    tokens = tokenize(text)
    words = Words.of(text, tokens)
    folded = words.folded
    genuine_code_sms = bool(words.find(lists.never_share))
    kept: list[RedFlag] = []
    for flag in flags:
        i = _first_token(tokens, flag.start)
        if flag.kind is RedFlagKind.BANK_NAME:
            continue
        if flag.kind is RedFlagKind.MONEY and not (
            i < len(folded) and folded[i] == MONEY_TOKEN and _asked_to_pay(text, tokens, words, i, lists)
        ):
            continue
        if flag.kind is RedFlagKind.APP_SWITCH:
            last = max(i, _first_token(tokens, flag.end) - 1)
            if "private" in " ".join(flag.reasons):
                # "ib mình", "rủ em nói chuyện riêng" ask; "rồi nhắn riêng khen em xinh" tells.
                asking = (
                    set(folded[last + 1 : last + 3]) & _PRIVATE_AFTER
                    or set(folded[max(0, i - 3) : i]) & _ASKING
                )
                if not asking:
                    continue
            elif last >= len(folded) or not _moved(words, last, lists):
                continue
        if flag.kind is RedFlagKind.OTP_REQUEST and genuine_code_sms:
            continue
        kept.append(flag)
    extra = [*_percentages(text, tokens, words, lists)]
    if not genuine_code_sms:
        extra += _requests(text, tokens, words, lists)
    for flag in extra:
        if not any(k.start < flag.end and flag.start < k.end for k in kept):
            kept.append(flag)
    once: list[RedFlag] = []
    seen: set[tuple[RedFlagKind, str]] = set()
    for flag in sorted(kept, key=lambda f: (f.start, f.end)):
        key = (flag.kind, flag.shown.lower())
        if key not in seen:
            seen.add(key)
            once.append(flag)
    return tuple(once)
