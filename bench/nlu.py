"""NLU benchmark: embedded vs Rasa side by side, in one run. Prints numbers; asserts nothing.

    .venv/bin/python bench/nlu.py [--no-rasa] [--repeat N] [--rasa-config PATH ...] [--json PATH]

Quality on the dev set (macro-F1 overall, per style and per language; short messages right; imminent
and serious recall and precision; benign messages given a tactic; how often an answer with a tactic
shows a scenario, and how often that scenario is right), then single-message latency (median/p99),
batch throughput, cold start, model size and RSS. The Rasa server is set up, trained and started as
in the tests (under data/rasa; the first run installs it, which takes minutes and is not counted).
`--rasa-config` (repeatable) trains and serves other pipelines, one column each (for trying one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import free_port  # noqa: E402
from handlers.models import Analysis  # noqa: E402
from nlu.data import DEV_DIR, Example, load_examples  # noqa: E402
from nlu.embedded import EmbeddedClassifier, load_or_train, model_path  # noqa: E402
from nlu.evaluate import evaluate  # noqa: E402
from nlu.rasa_http import RasaHttpClassifier  # noqa: E402
from nlu.rasa_server import CONFIG, model_file, start, train  # noqa: E402

CACHE = ROOT / "data" / "nlu-cache"
RASA_HOME = ROOT / "data" / "rasa"
# A message of at most this many words is "short" (a forwarded line, a teen's one-liner).
SHORT_WORDS = 6


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    pids = [pid]
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
        pids += [int(p) for p in children.stdout.split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def quality(dev: list[Example], analyses: list[Analysis]) -> dict[str, float]:
    """The dev-set numbers docs/nlu.md reports for a backend."""
    report = evaluate(dev, analyses, resamples=200)
    out = {"macro_f1": report.macro, "macro_f1_low": report.interval[0], "macro_f1_high": report.interval[1]}
    out.update({f"macro_f1_{style}": f1 for style, (f1, _) in report.per_style.items()})
    out.update({f"macro_f1_{lang}": f1 for lang, (f1, _) in (report.per_lang or {}).items()})
    # Short messages (in today's dev set all benign, so macro-F1 means nothing there): the share whose
    # tactics and crisis flag are exactly the gold ones.
    short = [(e, a) for e, a in zip(dev, analyses, strict=True) if len(e.text.split()) <= SHORT_WORDS]
    right = [e.tactics == {t.value for t in a.tactics} and e.crisis == a.crisis for e, a in short]
    out["short_exact"] = sum(right) / len(right) if right else 0.0
    out.update({"imminent_recall": report.crisis.recall, "imminent_precision": report.crisis.precision})
    if report.serious is not None:
        out.update({"serious_recall": report.serious.recall, "serious_precision": report.serious.precision})
    out["benign_with_tactic"] = report.benign_flagged
    # Answers with a tactic or crisis, on messages whose gold has a scenario: how many show a scenario's
    # guide, and how many of those are the right one.
    flagged = [(e, a) for e, a in zip(dev, analyses, strict=True) if (a.tactics or a.crisis) and e.scenario]
    shown = [(e, a) for e, a in flagged if a.scenario]
    out["scenario_shown"] = len(shown) / len(flagged) if flagged else 0.0
    out["scenario_right"] = sum(e.scenario == a.scenario for e, a in shown) / len(shown) if shown else 0.0
    return out


def embedded_cold_start() -> tuple[float, float]:
    """Seconds from a fresh interpreter to the first analysis (cached model), and that process's RSS."""
    code = (
        "import time,resource; t=time.perf_counter();"
        "from pathlib import Path; from nlu.embedded import EmbeddedClassifier, load_or_train;"
        f"c=EmbeddedClassifier(load_or_train(Path({str(CACHE)!r})));"
        "c.analyze_batch(['chuyển tiền ngay không tao tung ảnh']);"
        "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    wall = time.perf_counter() - started
    _, rss = out.stdout.split()
    return wall, float(rss)


def bench_embedded(dev: list[Example], repeat: int) -> dict[str, float]:
    texts = [e.text for e in dev]
    model = load_or_train(CACHE)
    classifier = EmbeddedClassifier(model)
    classifier.analyze_batch(texts[:10])
    latencies = []
    for _ in range(repeat):
        for text in texts:
            t = time.perf_counter()
            classifier.analyze_batch([text])
            latencies.append((time.perf_counter() - t) * 1000)
    batch = texts * 5
    t = time.perf_counter()
    classifier.analyze_batch(batch)
    throughput = len(batch) / (time.perf_counter() - t)
    cold, rss = embedded_cold_start()
    result = quality(dev, classifier.analyze_batch(texts))
    result.update(
        {
            "median_ms": statistics.median(latencies),
            "p99_ms": pct(latencies, 0.99),
            "batch_msgs_per_s": throughput,
            "cold_start_s": cold,
            "model_mb": model_path(CACHE, ROOT / "nlu" / "data")[0].stat().st_size / 1e6,
            "rss_mb": rss,
        }
    )
    return result


async def rasa_latencies(
    url: str, dev: list[Example], embedded: EmbeddedClassifier, repeat: int
) -> dict[str, float]:
    texts = [e.text for e in dev]
    backend = RasaHttpClassifier(url, timeout_s=10, fallback=embedded)
    async with httpx.AsyncClient() as client:
        raw = []
        for _ in range(repeat):
            for text in texts:
                t = time.perf_counter()
                (await client.post(f"{url}/model/parse", json={"text": text}, timeout=10)).raise_for_status()
                raw.append((time.perf_counter() - t) * 1000)
        full = []
        analyses = []
        for text in texts:
            t = time.perf_counter()
            analyses.append(await backend.analyze(text))
            full.append((time.perf_counter() - t) * 1000)
        batch = texts * 3
        semaphore = asyncio.Semaphore(8)

        async def one(text: str) -> None:
            async with semaphore:
                (await client.post(f"{url}/model/parse", json={"text": text}, timeout=30)).raise_for_status()

        t = time.perf_counter()
        await asyncio.gather(*(one(x) for x in batch))
        throughput = len(batch) / (time.perf_counter() - t)
    await backend.aclose()
    result = quality(dev, analyses)
    result.update(
        {
            "median_ms": statistics.median(full),
            "p99_ms": pct(full, 0.99),
            "parse_median_ms": statistics.median(raw),
            "parse_p99_ms": pct(raw, 0.99),
            "batch_msgs_per_s": throughput,
            "fallback_answers": sum(a.backend != "rasa" for a in analyses),
        }
    )
    return result


def bench_rasa(dev: list[Example], repeat: int, config: Path) -> dict[str, float]:
    # Training time only when this run trains (a model for the same data and pipeline is reused).
    trained = not model_file(RASA_HOME, None, config).exists()
    started = time.perf_counter()
    model = train(RASA_HOME, None, config=config)
    train_s = time.perf_counter() - started if trained else float("nan")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = start(RASA_HOME, model, port, RASA_HOME / "logs" / "bench.log")
    try:
        while True:
            try:
                if httpx.post(f"{url}/model/parse", json={"text": "xin chào"}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 300:
                raise SystemExit("rasa server did not start")
            time.sleep(0.2)
        cold = time.perf_counter() - started
        embedded = EmbeddedClassifier(load_or_train(CACHE))
        result = asyncio.run(rasa_latencies(url, dev, embedded, repeat))
        result.update(
            {
                "cold_start_s": cold,
                "model_mb": model.stat().st_size / 1e6,
                "rss_mb": rss_mb(process.pid),
                "train_s": train_s,
            }
        )
        return result
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-rasa", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--rasa-config",
        type=Path,
        action="append",
        help="a Rasa pipeline to train and serve (repeatable; default nlu/rasa/config.yml)",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()
    dev = load_examples(DEV_DIR)
    results = {"embedded": bench_embedded(dev, args.repeat)}
    configs = [] if args.no_rasa else (args.rasa_config or [CONFIG])
    for config in configs:
        results["rasa" if config.resolve() == CONFIG else f"rasa:{config.stem}"] = bench_rasa(dev, 1, config)
    keys = list(dict.fromkeys(k for r in results.values() for k in r))
    print(f"{'metric':<22}" + "".join(f"{name:>16}" for name in results))
    for key in keys:
        print(
            f"{key:<22}" + "".join(f"{r[key]:>16.3f}" if key in r else f"{'-':>16}" for r in results.values())
        )
    print(f"({len(dev)} dev messages; {os.cpu_count()} cores)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
