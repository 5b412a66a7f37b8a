"""Check Rasa-format NLU data files: labels, metadata, forbidden characters, near-duplicates.

Usage: python scripts/check_nlu_data.py FILE_OR_DIR [...]
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import yaml

TACTIC_ORDER = ["fear", "manipulation", "control", "crisis"]
STYLES = {"forwarded", "described", "teen"}
SCENARIOS_FILE = Path(__file__).resolve().parent.parent / "nlu" / "scenarios.yml"
NEAR_DUPLICATE = 0.75


def valid_intent(name: str) -> bool:
    """True for 'benign' or a '+'-joined, canonically ordered subset of TACTIC_ORDER."""
    if name == "benign":
        return True
    parts = name.split("+")
    return all(p in TACTIC_ORDER for p in parts) and parts == sorted(set(parts), key=TACTIC_ORDER.index)


def shingles(text: str) -> set[str]:
    folded = unicodedata.normalize("NFD", text.lower())
    folded = "".join(c for c in folded if unicodedata.category(c) != "Mn").replace("đ", "d")
    folded = re.sub(r"\W+", " ", folded).strip()
    return {folded[i : i + 4] for i in range(max(1, len(folded) - 3))}


def near_duplicates(rows: list[tuple[str, str, str]]) -> list[str]:
    """Pairs of examples whose 4-character shingles overlap by NEAR_DUPLICATE (Jaccard) or more."""
    sets = sorted(((shingles(t), i) for i, (t, _, _) in enumerate(rows)), key=lambda x: len(x[0]))
    found = []
    for a_pos, (a, i) in enumerate(sets):
        for b, j in sets[a_pos + 1 :]:
            if len(a) < NEAR_DUPLICATE * len(b):
                break  # every later set is larger still: Jaccard cannot reach the limit
            if a and len(a & b) / len(a | b) >= NEAR_DUPLICATE:
                first, second = sorted((i, j))
                a_row, b_row = rows[first], rows[second]
                found.append(f"near-duplicate:\n  {a_row[2]}: {a_row[0][:90]}\n  {b_row[2]}: {b_row[0][:90]}")
    return found


def load(path: Path, scenarios: set[str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    problems: list[str] = []
    rows: list[tuple[str, str, str]] = []
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "nlu" not in doc:
        return rows, [f"{path}: top level must have 'version' and 'nlu'"]
    for block in doc["nlu"]:
        intent = block.get("intent", "")
        meta = block.get("metadata") or {}
        where = f"{path}: intent {intent!r} scenario {meta.get('scenario')!r}"
        if not valid_intent(intent):
            problems.append(f"{where}: bad intent (use benign or fear+manipulation+control+crisis order)")
        if meta.get("style") not in STYLES:
            problems.append(f"{where}: metadata.style must be one of {sorted(STYLES)}")
        if meta.get("scenario") not in scenarios:
            problems.append(f"{where}: metadata.scenario not in nlu/scenarios.yml")
        examples = block.get("examples", "")
        for line in str(examples).splitlines():
            if not line.strip():
                continue
            if not line.startswith("- "):
                problems.append(f"{where}: line does not start with '- ': {line[:60]!r}")
                continue
            text = line[2:].strip()
            if re.search(r"[\[\]{}]", text):
                problems.append(f"{where}: no [ ] {{ }} allowed: {text[:60]!r}")
            rows.append((text, intent, str(path)))
    return rows, problems


def main(argv: list[str]) -> int:
    scenarios = set(yaml.safe_load(SCENARIOS_FILE.read_text(encoding="utf-8"))["scenarios"])
    files: list[Path] = []
    for arg in argv:
        p = Path(arg)
        files += sorted(p.rglob("*.yml")) if p.is_dir() else [p]
    rows: list[tuple[str, str, str]] = []
    problems: list[str] = []
    for f in files:
        r, p = load(f, scenarios)
        rows += r
        problems += p
    problems += near_duplicates(rows)
    counts: dict[str, int] = {}
    for _, intent, _ in rows:
        for part in intent.split("+"):
            counts[part] = counts.get(part, 0) + 1
    print(f"{len(rows)} examples; per label: {dict(sorted(counts.items()))}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
