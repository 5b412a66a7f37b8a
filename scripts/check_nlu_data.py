"""Check Rasa-format NLU data: labels, metadata and markup (through nlu.data) and near-duplicates.

Usage: .venv/bin/python scripts/check_nlu_data.py FILE_OR_DIR [...]   (exit 1 on any problem)
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlu.data import DataError, Example, load_examples  # noqa: E402
from nlu.similarity import near_duplicates  # noqa: E402


def main(argv: list[str]) -> int:
    examples: list[Example] = []
    try:
        for arg in argv:
            examples += load_examples(Path(arg))
    except DataError as exc:
        print(exc)
        return 1
    counts = Counter(label for e in examples for label in (e.intent.split("+")))
    print(f"{len(examples)} examples; per label: {dict(sorted(counts.items()))}")
    pairs = near_duplicates(examples)
    for a, b in pairs:
        print(f"near-duplicate:\n  {a.source}: {a.text[:90]}\n  {b.source}: {b.text[:90]}")
    return 1 if pairs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
