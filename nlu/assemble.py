"""From label probabilities to an Analysis: thresholds, the crisis net and its kind, the student's
situation, and evidence quoted from the other party's words.

Shared by every backend, so that they differ only in where the probabilities come from.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np

from handlers.models import (
    Act,
    Analysis,
    CrisisDetail,
    CrisisKind,
    Escalation,
    Evidence,
    FollowUp,
    Severity,
    Tactic,
)
from handlers.ports import WORD_LIMITS
from nlu.cues import EXCEPTIONS, JOKE, PAST, cue_phrases
from nlu.data import LABEL_ORDER, SERIOUS, TACTICS, scenario_crisis_kinds
from nlu.heads import CRISIS_LOW, GATE, SCENARIO
from nlu.lexicon import CRISIS, KIND_SEP, Words, find_cues, load_lexicon, load_quote_trims
from nlu.normalize import Token, tokenize
from nlu.situation import Lists, Situation, load_lists, read_situation

# The labels read from every line of a pasted chat (the tactics only from the other party's).
SEVERITY_LABELS = (SERIOUS, "crisis")
# Columns of a probability vector: the labels, then the "any tactic" gate.
COLUMNS = (*LABEL_ORDER, GATE)
# A quote is a clause: pieces shorter than MIN_FINE_WORDS are joined to the next, and a clause longer
# than WHOLE_CLAUSE_WORDS is cut to MAX_QUOTE_WORDS words from its cue. Frames and connectives are
# taken off while MIN_CLAUSE_WORDS words remain.
MIN_CLAUSE_WORDS = 3
MAX_QUOTE_WORDS = WORD_LIMITS.quote
MAX_SEGMENTS = 24
# A clause holding a cue phrase of the tactic is preferred as the quote, unless the model disagrees.
CUE_BONUS = 0.15
# Crisis found only by the lexicon is reported with this score.
CUE_CRISIS_SCORE = 0.95
# Messages of at most this many words are imminent only through the crisis lexicon.
SHORT_MESSAGE_WORDS = 3
# With a hyperbole in the message and no crisis cue, the model's crisis head must reach this.
HYPERBOLE_CRISIS = 0.75
# Without a threshold chosen on held-out folds (a Rasa model), a scenario needs this probability.
SCENARIO_MIN = 0.5
UNSURE_MARGIN = 0.15
# Below this share of its threshold, and without a cue, a clause does not show a tactic: no quote.
SHOWS = 0.5
_CLAUSE = re.compile(r"[.!?;…]+(?=\s|$)|\n+|[,:]\s|\s[-–|]\s|\s\|\s")
# Question and softening particles a quote does not end with ("… đóng không", "… nha").
_TAIL_WORDS = frozenset(
    {"khong", "chua", "ha", "a", "nha", "nhe", "di", "voi", "nhi", "ne", "day", "ak", "hong", "cuu", "huhu"}
)
# A threat's condition ("không quay thì …") is within this many words of its start.
CONDITION_WORDS = 7
_TRIM = " \t\n,;:-–|\"'“”‘’()[]"
# Which crisis kind a crisis cue names, in the order a message's kinds are taken: self-harm first,
# whatever else the message is about.
KIND_ORDER = (
    CrisisKind.SELF_HARM,
    CrisisKind.KIDNAPPING_NOW,
    CrisisKind.MEETING_NOW,
    CrisisKind.SEXTORTION_NOW,
)
MEETING_DETAILS = frozenset(
    {CrisisDetail.AT_DOOR, CrisisDetail.ON_THE_WAY, CrisisDetail.FOLLOWED, CrisisDetail.IN_CAR}
)
# On a rooftop, already hurt: whatever else the message says, the danger is to the student's life.
SELF_HARM_DETAILS = frozenset({CrisisDetail.HIGH_PLACE, CrisisDetail.HURT, CrisisDetail.HOLDING})


@dataclass(frozen=True)
class Segment:
    start: int
    end: int


def _pieces(text: str) -> list[list[int]]:
    spans: list[list[int]] = []
    last = 0
    for m in _CLAUSE.finditer(text):
        if m.start() > last:
            spans.append([last, m.start() if text[m.start()] in ",:-–|\n " else m.end()])
        last = m.end()
    if last < len(text):
        spans.append([last, len(text)])
    return [s for s in spans if text[s[0] : s[1]].strip(_TRIM)]


def _n_words(text: str) -> int:
    return sum(1 for w in text.split() if any(c.isalnum() for c in w))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    return start, end


def segments(text: str) -> list[Segment]:
    """The clauses a quote is made of, and the pieces the model scores (see fine_clauses)."""
    return fine_clauses(text)[:MAX_SEGMENTS] or [Segment(*_trim(text, 0, len(text)))]


def _without_frame(text: str, seg: Segment, lists: Lists) -> Segment:
    """The reported words of a narrated clause: "có người nhắn bảo em là X" -> "X"."""
    tokens = tokenize(text[seg.start : seg.end])
    words = Words.of(text[seg.start : seg.end], tokens)
    found = words.find(lists.frame_verbs, 0, FRAME_WINDOW)
    if not found:
        return seg
    cut = max(j for _, j in found)
    while cut < len(words):
        obj = next((o for o in lists.frame_objects if words.match(cut, o)), None)
        if obj is None:
            break
        cut += len(obj)
    if cut >= len(tokens) or _n_words(text[seg.start + tokens[cut].start : seg.end]) < MIN_CLAUSE_WORDS:
        return seg
    start, end = _trim(text, seg.start + tokens[cut].start, seg.end)
    return Segment(start, end)


# Around a cue, a quote keeps at most this many words before it and after it (within its clause).
CUE_NEAR_START = 3


QUOTE_SLACK = 2


def _window(text: str, seg: Segment, cue: tuple[int, int] | None) -> Segment:
    """The clause, or when it is longer than WHOLE_CLAUSE_WORDS, at most MAX_QUOTE_WORDS of its words
    from just before its cue."""
    pieces = list(re.finditer(r"\S+", text[seg.start : seg.end]))
    if not pieces:
        return seg
    first, last = 0, len(pieces) - 1
    if cue is not None and len(pieces) > MAX_QUOTE_WORDS:
        at = next((k for k, m in enumerate(pieces) if seg.start + m.end() > cue[0]), 0)
        # A cue among the clause's first words keeps its subject ("Thuê bao của bạn đã trúng…").
        first = 0 if at <= CUE_NEAR_START else at
    # Two words short of the clause's end are kept rather than cut ("trong hôm | nay").
    if last - (first + MAX_QUOTE_WORDS - 1) > QUOTE_SLACK:
        last = first + MAX_QUOTE_WORDS - 1
    start, end = _trim(text, seg.start + pieces[first].start(), seg.start + pieces[last].end())
    return Segment(start, end)


def _without_lead(text: str, seg: Segment, label: str) -> Segment:
    """Connectives and reporting words taken off the start of a quote ("rồi nó bảo em là X" -> "X"); a
    threat quotes its consequence ("không quay thì | em bị bắt"), a demand not its promised outcome
    ("ck 3tr vào tk tạm giữ | là được xóa tên")."""
    leads, control_leads, pay = load_quote_trims()
    tokens = tokenize(text[seg.start : seg.end])
    words = [t.norm for t in tokens]
    cut = 0
    if label == "fear" and "thi" in words[1:CONDITION_WORDS]:
        at = words.index("thi", 1)
        if len(words) - at - 1 >= 2:
            cut = at + 1
    if label == "fear":
        while words[cut : cut + 1] in (["khong"], ["neu"]) and len(words) - cut > 3:
            cut += 1
    while True:
        options = [*leads, *(control_leads if label == "control" else ())]
        hit = next((p for p in options if tuple(words[cut : cut + len(p)]) == p), None)
        if hit is None and label == "control" and words[cut : cut + 1] == ["khong"]:
            hit = ("khong",) if words[cut + 1 : cut + 2] and words[cut + 1] in pay else None
        if hit is None or len(words) - cut - len(hit) < MIN_CLAUSE_WORDS:
            break
        cut += len(hit)
    last = len(tokens)
    if label == "control" and "la" in words[cut + MIN_CLAUSE_WORDS :]:
        last = words.index("la", cut + MIN_CLAUSE_WORDS)
    while last - cut > MIN_CLAUSE_WORDS and tokens[last - 1].norm in _TAIL_WORDS:
        last -= 1
    if (cut == 0 and last == len(tokens)) or cut >= last:
        return seg
    start, end = _trim(text, seg.start + tokens[cut].start, seg.start + tokens[last - 1].end)
    return Segment(start, end)


def _own(seg: Segment, situation: Situation) -> bool:
    """The clause is mostly the student's own words (a feeling, a question, what they did)."""
    inside = sum(max(0, min(seg.end, e) - max(seg.start, s)) for s, e in situation.own_words)
    return inside * 2 >= seg.end - seg.start


def _ranked(
    label: str, cues: dict[str, list[Evidence]], pieces: list[tuple[Segment, np.ndarray]]
) -> list[tuple[float, float, Segment]]:
    """Clauses by how well they show `label`: (score with cue bonus, model probability, clause)."""
    j = COLUMNS.index(label)
    cue_spans = cues.get(label, [])
    ranked = []
    for seg, p in pieces:
        has_cue = any(c.start < seg.end and seg.start < c.end for c in cue_spans)
        ranked.append((float(p[j]) + (CUE_BONUS if has_cue else 0.0), float(p[j]), seg))
    return sorted(ranked, key=lambda r: -r[0])


def _evidence(
    text: str, label: str, seg: Segment, phrases: dict[str, list[tuple[int, int]]], lists: Lists
) -> Evidence:
    """The quote for `label` from a clause: the reported words, around the label's longest cue, without
    leading connectives, at most MAX_QUOTE_WORDS words."""
    seg = _without_frame(text, seg, lists)
    inside = [c for c in phrases.get(label, []) if seg.start <= c[0] and c[1] <= seg.end]
    cue = min(inside) if inside else None
    clause_end = _trim(text, seg.start, seg.end)[1]
    seg = _without_lead(text, _window(text, seg, cue), label)
    return Evidence(
        tactic=label, start=seg.start, end=seg.end, text=text[seg.start : seg.end], cut=seg.end < clause_end
    )


MIN_FINE_WORDS = 3
# A reporting frame ("có một tài khoản tên X nhắn cho em là") ends within this many words.
FRAME_WINDOW = 10
# Fine clauses, the pieces a quote is cut from: split at every punctuation and before every conjunction.
_FINE_SPLIT = frozenset(
    {"thi", "nen", "vi", "de", "nhung", "ma", "roi", "va", "neu", "keo", "con", "xong", "gio", "sau"}
)
# A clause holding a cue phrase of the tactic is strongly preferred as its quote; used clauses less so.
CUE_PREFERENCE = 1.0
USED_PENALTY = 0.3
# A clause with another tactic's cue and none of this one's is that tactic's quote, not this one's.
OTHER_CUE_PENALTY = 0.2


def fine_clauses(text: str) -> list[Segment]:
    """The message cut at every punctuation mark and before every conjunction; a piece of fewer than
    MIN_FINE_WORDS words is joined to the next one in its sentence: the spans a quote is made of."""
    out: list[Segment] = []
    for start, end in _pieces(text):
        start, end = _trim(text, start, end)
        tokens = tokenize(text[start:end])
        # A conjunction is a word of its own: "20h" is a time, not "20 giờ" cut before "giờ".
        cuts = [0] + [
            k
            for k, t in enumerate(tokens)
            if k > 0 and t.norm in _FINE_SPLIT and text[start + tokens[k - 1].end : start + t.start].isspace()
        ]
        bounds = [start + tokens[k].start for k in cuts] + [end] if tokens else [start, end]
        pending = bounds[0]
        for b in bounds[1:]:
            if _n_words(text[pending:b]) < MIN_FINE_WORDS and b != end:
                continue
            seg = Segment(*_trim(text, pending, b))
            if seg.end > seg.start:
                if out and _n_words(text[seg.start : seg.end]) < MIN_FINE_WORDS and out[-1].end >= start:
                    out[-1] = Segment(out[-1].start, seg.end)
                else:
                    out.append(seg)
            pending = b
    return out


def _probability(seg: Segment, pieces: list[tuple[Segment, np.ndarray]], j: int) -> float:
    """The model's probability for column j of the coarse piece that overlaps `seg` most."""
    best, overlap = 0.0, 0
    for piece, p in pieces:
        inter = min(seg.end, piece.end) - max(seg.start, piece.start)
        if inter > overlap:
            best, overlap = float(p[j]), inter
    return best


def quotes(
    text: str,
    labels: list[str],
    thresholds: dict[str, float],
    pieces: list[tuple[Segment, np.ndarray]],
    situation: Situation,
    lists: Lists,
    phrases: dict[str, list[tuple[int, int]]],
) -> dict[str, Evidence]:
    """One quote per label from the other party's words: the fine clause with the label's cue phrase
    (the model's favourite among several), a different clause for each label when there is one; no
    quote when no clause shows the label."""
    fine = [f for f in fine_clauses(text) if not _own(f, situation)]
    chosen: dict[str, Evidence] = {}
    used: set[Segment] = set()
    scored: dict[str, list[tuple[float, Segment]]] = {}
    for label in labels:
        j = COLUMNS.index(label)
        floor = thresholds.get(label, 0.5) * SHOWS
        rows = []
        for seg in fine:
            prob = _probability(seg, pieces, j)
            cue = any(seg.start <= a and b <= seg.end for a, b in phrases.get(label, []))
            other = any(
                seg.start <= a and b <= seg.end
                for lb in labels
                if lb != label
                for a, b in phrases.get(lb, [])
            )
            if cue or prob >= floor:
                bonus = CUE_PREFERENCE if cue else (-OTHER_CUE_PENALTY if other else 0.0)
                rows.append((prob + bonus, seg))
        scored[label] = sorted(rows, key=lambda r: -r[0])
    for label in sorted(labels, key=lambda lb: -(scored[lb][0][0] if scored[lb] else 0.0)):
        # A clause another tactic quotes is not this one's: each tactic shows in words of its own.
        rows = [r for r in scored[label] if r[1] not in used]
        if not rows:
            continue
        pick = max(rows, key=lambda r: r[0] - (USED_PENALTY if r[1] in used else 0.0))[1]
        used.add(pick)
        chosen[label] = _evidence(text, label, pick, phrases, lists)
    return chosen


def hyperbole(text: str, tokens: list[Token]) -> bool:
    """The message holds an everyday hyperbole of the crisis lexicon ("mệt muốn chết") or a laugh."""
    return any(m.label == EXCEPTIONS for m in find_cues(text, tokens, load_lexicon())) or bool(
        JOKE.search(text)
    )


def _met_before(situation: Situation, cues: dict[str, list[Evidence]], scenario: str | None) -> bool:
    """The student already met the person and nothing says someone is coming or waiting now."""
    return (
        Act.MET in situation.already_did
        and not MEETING_DETAILS & set(situation.details)
        and crisis_kind(cues, situation, scenario) is CrisisKind.MEETING_NOW
    )


def crisis_kind(
    cues: dict[str, list[Evidence]], situation: Situation, scenario: str | None
) -> CrisisKind | None:
    """The kind of danger the message describes: self-harm first, then what the cues and details say,
    then what the scenario usually is."""
    for kind in KIND_ORDER:
        if cues.get(f"{CRISIS}{KIND_SEP}{kind.value}"):
            return kind
    if SELF_HARM_DETAILS & set(situation.details):
        return CrisisKind.SELF_HARM
    if MEETING_DETAILS & set(situation.details):
        return CrisisKind.MEETING_NOW
    if situation.escalation in (Escalation.ADDRESS, Escalation.MEETING):
        # "He knows my address", "meet up this weekend", "cho người đến trường": someone coming.
        return CrisisKind.MEETING_NOW
    usual = scenario_crisis_kinds().get(scenario or "")
    # A camera on a fake police call is the kidnapping's ("quay video bị trói"), else it is sextortion.
    if CrisisDetail.CAMERA in situation.details and usual is not CrisisKind.KIDNAPPING_NOW:
        return CrisisKind.SEXTORTION_NOW
    return usual


def build_analysis(
    text: str,
    p: np.ndarray,
    *,
    thresholds: dict[str, float],
    cues: dict[str, list[Evidence]],
    pieces: list[tuple[Segment, np.ndarray]],
    scenario: tuple[str | None, float],
    backend: str,
    readable: bool = True,
    tokens: list[Token] | None = None,
    not_theirs: tuple[tuple[int, int], ...] = (),
    followup: tuple[str | None, float, bool] = (None, 0.0, False),
) -> Analysis:
    """An Analysis from the probability vector `p` (columns COLUMNS) of a whole message, with each
    clause's vector in `pieces` (a message of one clause has none)."""
    if not readable:
        # Nothing a model can read (empty, emoji, punctuation): only the crisis lexicon may speak.
        p = np.zeros(len(COLUMNS))
    lists = load_lists()
    tokens = tokenize(text) if tokens is None else tokens
    situation = read_situation(text, tokens, lists)
    if not_theirs:
        # A pasted chat: the student's own lines and every line's name and time are never quoted.
        situation = dataclasses.replace(situation, own_words=(*situation.own_words, *not_theirs))
    phrases = cue_phrases(text, tokens)
    if not pieces:
        pieces = [(s, p) for s in segments(text)[:1]]
    scores = {t: round(float(p[j]), 4) for j, t in enumerate(TACTICS)}
    # A tactic is reported when its head and the "any tactic" gate both agree.
    gate_open = p[COLUMNS.index(GATE)] >= thresholds[GATE]
    tactics = tuple(Tactic(t) for j, t in enumerate(TACTICS) if gate_open and p[j] >= thresholds[t])
    crisis_p = float(p[COLUMNS.index("crisis")])
    crisis_cue = bool(cues.get(CRISIS))
    # "Bài này khó muốn chết": a hyperbole explains the words that sound like a crisis; then the model
    # alone must be very sure (a real crisis cue elsewhere still counts).
    bar = HYPERBOLE_CRISIS if hyperbole(text, tokens) else thresholds["crisis"]
    # A few words ("đang tới", "tối nay 7h") say too little for the model to call an emergency: only
    # the crisis lexicon may ("cứu em", "muốn chết").
    short = sum(1 for t in tokens if t.norm.isalnum()) <= SHORT_MESSAGE_WORDS
    if short:
        bar = 1.01
    crisis = crisis_p >= bar or crisis_cue
    if crisis and not crisis_cue and _met_before(situation, cues, scenario[0]):
        # "Hôm qua em đi gặp anh ấy rồi": the meeting is over; what follows is serious, not imminent.
        crisis = False
    quoted = quotes(text, [t.value for t in tactics], thresholds, pieces, situation, lists, phrases)
    evidence = [quoted[t.value] for t in tactics if t.value in quoted]
    if crisis:
        crisis_quote = cues[CRISIS][0] if crisis_cue else None
        if crisis_quote is None:
            ranked = _ranked(CRISIS, cues, pieces)
            crisis_quote = _evidence(text, CRISIS, ranked[0][2], phrases, lists) if ranked else None
        if crisis_quote is not None:
            evidence.append(crisis_quote)
    near = any(thresholds[t] - UNSURE_MARGIN <= p[j] < thresholds[t] for j, t in enumerate(TACTICS))
    # Words of a lure or a threat the model did not weigh enough ("khen xinh", "lợi nhuận 300%") make
    # "nothing found" unsure: a missed grooming message must not be called ordinary.
    near = near or bool(phrases.get("manipulation") or phrases.get("fear"))
    serious_p = float(p[COLUMNS.index(SERIOUS)])
    # Short of imminent, a crisis score above the recall threshold is still serious (111 first) when
    # the message shows a tactic or a trap's words: alone, that band is mostly plans and moods; and a
    # few words are serious for the serious head only with such words too ("m tới chưa").
    grounded = bool(tactics) or near
    near_crisis = crisis_p >= thresholds.get(CRISIS_LOW, thresholds["crisis"]) and grounded
    serious_head = serious_p >= thresholds.get(SERIOUS, 0.5) and (grounded or not short)
    if crisis:
        severity = Severity.IMMINENT
    elif serious_head or near_crisis or Act.SENT_PHOTOS in situation.already_did:
        # Photos already sent to someone online are serious whatever the model says.
        severity = Severity.SERIOUS
    else:
        severity = Severity.NONE
    slug, slug_p = scenario
    slug = slug if (tactics or crisis) and slug_p >= thresholds.get(SCENARIO, SCENARIO_MIN) else None
    return Analysis(
        tactics=tactics,
        scores=scores,
        crisis=crisis,
        crisis_score=round(max(crisis_p, CUE_CRISIS_SCORE if crisis_cue else 0.0), 4),
        evidence=tuple(evidence),
        scenario=slug,
        unsure=not tactics and not crisis and near,
        backend=backend,
        severity=severity,
        severity_score=round(serious_p, 4),
        crisis_kind=crisis_kind(cues, situation, slug) if crisis else None,
        details=situation.details,
        already_did=situation.already_did,
        about_other=situation.about_other,
        question=situation.question,
        past=any(m.label == PAST for m in find_cues(text, tokens, load_lexicon())),
        followup=FollowUp(followup[0]) if followup[0] else None,
        followup_score=round(followup[1], 4),
        followup_top=followup[2],
        howto=situation.howto,
        app=situation.app,
        escalation=situation.escalation,
    )
