"""`notalone nlu ...`: train, classify JSON lines, evaluate, and run the Rasa server."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from handlers.followup import FOLLOWUP_MIN
from handlers.models import Analysis
from handlers.ports import Classifier
from nlu import build_embedded
from nlu.data import DataError, load_examples
from nlu.embedded import EmbeddedClassifier, load_or_train
from nlu.evaluate import evaluate, evaluate_followups
from nlu.flags import RedFlagDetector
from nlu.gold import load_gold, score
from nlu.rasa_http import RasaHttpClassifier
from nlu.rasa_server import RasaSetupError, ensure_venv, serve_forever, train, validate
from nlu.settings import EmbeddedNlu, RasaNlu

MAX_ID = 200


def as_rasa(settings: EmbeddedNlu | RasaNlu) -> RasaNlu:
    """Rasa settings, taking the common keys from an embedded configuration when needed."""
    if isinstance(settings, RasaNlu):
        return settings
    home = settings.cache_dir.parent / "rasa"
    return RasaNlu(data_dir=settings.data_dir, cache_dir=settings.cache_dir, home=home)


def classifier_for(settings: EmbeddedNlu | RasaNlu, backend: str | None) -> Classifier:
    """The backend asked for on the command line, or the configured one."""
    embedded = build_embedded(settings)
    if (backend or settings.backend) == "rasa":
        rasa = as_rasa(settings)
        return RasaHttpClassifier(rasa.pool, timeout_s=rasa.timeout_s, fallback=embedded)
    return embedded


def analysis_json(item_id: Any, analysis: Analysis) -> dict[str, Any]:
    """One output line of `nlu classify --jsonl`."""
    scores = dict(analysis.scores)
    scores["crisis"] = analysis.crisis_score
    scores["serious"] = analysis.severity_score
    return {
        "id": item_id,
        "tactics": [t.value for t in analysis.tactics],
        "scores": scores,
        # "crisis" is the imminent level, kept for the tools that read it.
        "crisis": analysis.crisis,
        "severity": analysis.severity.value,
        "evidence": [e.model_dump() for e in analysis.evidence],
        "scenario": analysis.scenario,
        "backend": analysis.backend,
    }


def _parse(raw: bytes) -> tuple[Any, str | None, str | None]:
    """(id, text, error) of one input line."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, None, "not valid UTF-8"
    except json.JSONDecodeError as exc:
        return None, None, f"not valid JSON ({exc.msg})"
    if not isinstance(data, dict):
        return None, None, 'expected an object like {"id": 1, "text": "..."}'
    item_id = data.get("id")
    if not isinstance(item_id, str | int | float | type(None)) or isinstance(item_id, bool):
        return None, None, '"id" must be a string or a number'
    if isinstance(item_id, str) and len(item_id) > MAX_ID:
        return None, None, f'"id" longer than {MAX_ID} characters'
    text = data.get("text")
    if not isinstance(text, str):
        return item_id, None, '"text" must be a string'
    return item_id, text, None


async def classify_jsonl(classifier: Classifier, stdin: BinaryIO, stdout: TextIO, stderr: TextIO) -> int:
    """One output line per input line: the analysis, or {"id", "error"} for a line that cannot be read."""
    for number, raw in enumerate(stdin, start=1):
        if not raw.strip():
            continue
        item_id, text, error = _parse(raw.rstrip(b"\r\n"))
        if error is not None or text is None:
            print(f"notalone: stdin line {number}: {error}", file=stderr, flush=True)
            print(json.dumps({"id": item_id, "error": error}, ensure_ascii=False), file=stdout, flush=True)
            continue
        analysis = await classifier.analyze(text)
        print(json.dumps(analysis_json(item_id, analysis), ensure_ascii=False), file=stdout, flush=True)
    if isinstance(classifier, RasaHttpClassifier):
        await classifier.aclose()
    return 0


async def evaluate_file(classifier: Classifier, data: Path, out: TextIO, gold: Path | None = None) -> int:
    """Print precision/recall/F1 per label, macro-F1 with its interval, crisis recall and per style;
    with `gold`, also quote precision and red-flag precision and recall against hand annotations."""
    examples = load_examples(data)
    started = time.perf_counter()
    if isinstance(classifier, EmbeddedClassifier):
        analyses = classifier.analyze_batch([e.text for e in examples])
    else:
        analyses = [await classifier.analyze(e.text) for e in examples]
    elapsed = time.perf_counter() - started
    backends = sorted({a.backend for a in analyses})
    print(evaluate(examples, analyses).render(f"{data} backend {'/'.join(backends)} "), file=out)
    print(f"{len(examples)} messages in {elapsed:.2f} s", file=out)
    replies = [e for e in load_examples(data, followups=True) if e.followup is not None]
    if replies:
        if isinstance(classifier, EmbeddedClassifier):
            read = classifier.analyze_batch([e.text for e in replies])
        else:
            read = [await classifier.analyze(e.text) for e in replies]
        print(evaluate_followups(replies, read, analyses, FOLLOWUP_MIN).render(), file=out)
    if gold is not None:
        detector = RedFlagDetector()
        by_text = {e.text: a for e, a in zip(examples, analyses, strict=True)}
        # The flags a student is shown: only with an answer about a trap.
        flags = {t: detector.find(t) if a.tactics else () for t, a in by_text.items()}
        print(score(load_gold(gold), by_text, flags).render(), file=out)
    if isinstance(classifier, RasaHttpClassifier):
        await classifier.aclose()
    return 0


def train_command(settings: EmbeddedNlu | RasaNlu, backend: str | None, out: TextIO) -> int:
    """Train (or retrain) the chosen backend from the Rasa-format data."""
    if (backend or settings.backend) == "rasa":
        rasa = as_rasa(settings)
        rasa_model = train(rasa.home, rasa.data_dir, rasa.python, force=True)
        print(f"rasa model: {rasa_model}", file=out)
        return 0
    started = time.perf_counter()
    model = load_or_train(settings.cache_dir, settings.data_dir, force=True)
    seconds = time.perf_counter() - started
    print(
        f"embedded model trained on {model.meta['examples']} examples in {seconds:.1f} s; "
        f"thresholds {json.dumps({k: round(v, 2) for k, v in model.thresholds.items()})}",
        file=out,
    )
    return 0


def rasa_command(settings: EmbeddedNlu | RasaNlu, action: str, out: TextIO) -> int:
    """`nlu rasa setup|validate|serve`: install Rasa, validate the data, train if needed, and serve."""
    rasa = as_rasa(settings)
    venv = ensure_venv(rasa.home, rasa.python)
    if action == "setup":
        print(f"rasa venv: {venv}", file=out)
        return 0
    if action == "validate":
        validate(rasa.home, rasa.data_dir, rasa.python)
        print("rasa data validate: ok", file=out)
        return 0
    model = train(rasa.home, rasa.data_dir, rasa.python)
    return serve_forever(rasa.home, model, rasa.port)


def run(settings: EmbeddedNlu | RasaNlu, args: Any) -> int:
    """Dispatch `notalone nlu <action>`; data and Rasa problems become one clear message."""
    try:
        if args.nlu_action == "train":
            return train_command(settings, args.backend, sys.stdout)
        if args.nlu_action == "classify":
            return asyncio.run(
                classify_jsonl(
                    classifier_for(settings, args.backend), sys.stdin.buffer, sys.stdout, sys.stderr
                )
            )
        if args.nlu_action == "eval":
            if args.gold is not None and not args.gold.is_file():
                raise DataError(
                    f"--gold {args.gold}: not a file (a gold annotation file, e.g. nlu/gold/dev_evidence.yml)"
                )
            classifier = classifier_for(settings, args.backend)
            return asyncio.run(evaluate_file(classifier, args.data, sys.stdout, args.gold))
        return rasa_command(settings, args.rasa_action, sys.stdout)
    except (DataError, RasaSetupError) as exc:
        for line in str(exc).splitlines():
            print(f"notalone: {line}", file=sys.stderr)
        return 2
