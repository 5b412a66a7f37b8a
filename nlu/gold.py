"""Scoring quotes and red flags against hand-annotated gold (nlu/gold/dev_evidence.yml, annotated blind).

A quote is precise when its words lie inside one gold span of its tactic. A red flag the bot shows is
right when it overlaps a gold flag of a matching kind; recall is the share of gold flags shown.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from handlers.models import Analysis, RedFlag, RedFlagKind
from nlu.normalize import fold

GOLD_DIR = Path(__file__).resolve().parent / "gold"
GOLD_FILE = GOLD_DIR / "dev_evidence.yml"
# The annotators' flag kinds, and the bot's kinds each of them is met by.
FLAG_KINDS: dict[str, frozenset[RedFlagKind]] = {
    "link": frozenset({RedFlagKind.LINK}),
    "phone": frozenset({RedFlagKind.PHONE}),
    "bank_account": frozenset({RedFlagKind.BANK_ACCOUNT, RedFlagKind.PHONE}),
    "money": frozenset({RedFlagKind.MONEY}),
    "code_request": frozenset({RedFlagKind.OTP_REQUEST}),
    "app_switch": frozenset({RedFlagKind.APP_SWITCH}),
    "install": frozenset({RedFlagKind.INSTALL}),
}


@dataclass(frozen=True)
class GoldFlag:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Gold:
    text: str
    evidence: dict[str, tuple[str, ...]]
    flags: tuple[GoldFlag, ...]


def load_gold(path: Path = GOLD_FILE) -> dict[str, Gold]:
    """Gold annotations by message text."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, Gold] = {}
    for item in data["items"]:
        text = item["text"]
        flags = []
        for flag in item.get("flags") or []:
            start = text.find(flag["text"])
            flags.append(GoldFlag(flag["kind"], start, start + len(flag["text"])))
        evidence = {k: tuple(v) for k, v in (item.get("evidence") or {}).items()}
        out[text] = Gold(text, evidence, tuple(flags))
    return out


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", fold(text))


def inside(quote: str, spans: tuple[str, ...]) -> bool:
    """The quote's words form a contiguous run of one span's words."""
    q = _words(quote)
    if not q:
        return False
    for span in spans:
        s = _words(span)
        if any(s[i : i + len(q)] == q for i in range(len(s) - len(q) + 1)):
            return True
    return False


@dataclass
class GoldReport:
    quotes: int = 0
    precise: int = 0
    # Quotes of tactics the gold also lists (a wrong tactic has no gold span to lie in).
    quotes_right_tactic: int = 0
    tactics_named: int = 0
    words: list[int] = field(default_factory=list)
    misses: list[tuple[str, str, str]] = field(default_factory=list)
    flags_shown: int = 0
    flags_right: int = 0
    gold_flags: int = 0
    gold_found: int = 0
    wrong_flags: list[tuple[str, str]] = field(default_factory=list)
    missed_flags: list[tuple[str, str]] = field(default_factory=list)

    def render(self) -> str:
        p = self.precise / self.quotes if self.quotes else 0.0
        fp = self.flags_right / self.flags_shown if self.flags_shown else 0.0
        fr = self.gold_found / self.gold_flags if self.gold_flags else 0.0
        median = statistics.median(self.words) if self.words else 0
        return "\n".join(
            [
                f"quote precision (inside a gold span of its tactic): {p:.3f} "
                f"({self.precise}/{self.quotes}), "
                f"on tactics the gold lists {self.precise / max(1, self.quotes_right_tactic):.3f} "
                f"({self.precise}/{self.quotes_right_tactic}); "
                f"tactics named {self.tactics_named}, with a quote {self.quotes}; "
                f"quote words median {median}, max {max(self.words, default=0)}",
                f"red flags shown: precision {fp:.3f} ({self.flags_right}/{self.flags_shown}), "
                f"recall {fr:.3f} ({self.gold_found}/{self.gold_flags})",
            ]
        )


def score(
    gold: dict[str, Gold], analyses: dict[str, Analysis], flags: dict[str, tuple[RedFlag, ...]]
) -> GoldReport:
    """Quote precision on messages whose gold lists the quoted tactic; flag precision and recall."""
    report = GoldReport()
    for text, item in gold.items():
        analysis = analyses.get(text)
        if analysis is None:
            continue
        for tactic in analysis.tactics:
            report.tactics_named += 1
            found = analysis.evidence_for(tactic.value)
            if not found:
                continue
            quote = found[0].text
            report.quotes += 1
            report.quotes_right_tactic += tactic.value in item.evidence
            report.words.append(len(quote.split()))
            if inside(quote, item.evidence.get(tactic.value, ())):
                report.precise += 1
            else:
                report.misses.append((tactic.value, quote, text))
        shown = flags.get(text, ())
        matched: set[int] = set()
        for flag in shown:
            report.flags_shown += 1
            hit = next(
                (
                    k
                    for k, g in enumerate(item.flags)
                    if flag.kind in FLAG_KINDS[g.kind] and flag.start < g.end and g.start < flag.end
                ),
                None,
            )
            if hit is None:
                report.wrong_flags.append((f"{flag.kind.value}: {text[flag.start : flag.end]}", text))
            else:
                report.flags_right += 1
                matched.add(hit)
        report.gold_flags += len(item.flags)
        report.gold_found += len(matched)
        for k, g in enumerate(item.flags):
            if k not in matched:
                report.missed_flags.append((f"{g.kind}: {text[g.start : g.end]}", text))
    return report
