"""NLU benchmark: embedded vs Rasa side by side, in one run. Prints numbers; asserts nothing.

    .venv/bin/python bench/nlu.py [--no-rasa] [--repeat N]

Single-message latency (median/p99), batch throughput, cold start, model size and RSS, plus the
dev-set macro-F1 of each backend. The Rasa server is set up, trained and started as in the tests
(under data/rasa; the first run installs it, which takes minutes and is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlu.data import DEV_DIR, load_examples  # noqa: E402
from nlu.embedded import EmbeddedClassifier, load_or_train, model_path  # noqa: E402
from nlu.evaluate import evaluate  # noqa: E402
from nlu.rasa_http import RasaHttpClassifier  # noqa: E402
from nlu.rasa_server import start, train  # noqa: E402

CACHE = ROOT / "data" / "nlu-cache"
RASA_HOME = ROOT / "data" / "rasa"


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


def bench_embedded(texts: list[str], repeat: int) -> dict[str, float]:
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
    dev = load_examples(DEV_DIR)
    report = evaluate(dev, classifier.analyze_batch([e.text for e in dev]), resamples=200)
    return {
        "median_ms": statistics.median(latencies),
        "p99_ms": pct(latencies, 0.99),
        "batch_msgs_per_s": throughput,
        "cold_start_s": cold,
        "model_mb": model_path(CACHE, ROOT / "nlu" / "data")[0].stat().st_size / 1e6,
        "rss_mb": rss,
        "dev_macro_f1": report.macro,
        "dev_crisis_recall": report.crisis.recall,
    }


async def rasa_latencies(
    url: str, texts: list[str], embedded: EmbeddedClassifier, repeat: int
) -> dict[str, float]:
    backend = RasaHttpClassifier(url, timeout_s=10, fallback=embedded)
    async with httpx.AsyncClient() as client:
        raw = []
        for _ in range(repeat):
            for text in texts:
                t = time.perf_counter()
                (await client.post(f"{url}/model/parse", json={"text": text}, timeout=10)).raise_for_status()
                raw.append((time.perf_counter() - t) * 1000)
        full = []
        for text in texts:
            t = time.perf_counter()
            await backend.analyze(text)
            full.append((time.perf_counter() - t) * 1000)
        batch = texts * 3
        semaphore = asyncio.Semaphore(8)

        async def one(text: str) -> None:
            async with semaphore:
                (await client.post(f"{url}/model/parse", json={"text": text}, timeout=30)).raise_for_status()

        t = time.perf_counter()
        await asyncio.gather(*(one(x) for x in batch))
        throughput = len(batch) / (time.perf_counter() - t)
    dev = load_examples(DEV_DIR)
    analyses = [await backend.analyze(e.text) for e in dev]
    await backend.aclose()
    report = evaluate(dev, analyses, resamples=200)
    return {
        "median_ms": statistics.median(full),
        "p99_ms": pct(full, 0.99),
        "parse_median_ms": statistics.median(raw),
        "parse_p99_ms": pct(raw, 0.99),
        "batch_msgs_per_s": throughput,
        "dev_macro_f1": report.macro,
        "dev_crisis_recall": report.crisis.recall,
    }


def bench_rasa(texts: list[str], repeat: int) -> dict[str, float]:
    model = train(RASA_HOME, None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
        result = asyncio.run(rasa_latencies(url, texts, embedded, repeat))
        result.update(
            {"cold_start_s": cold, "model_mb": model.stat().st_size / 1e6, "rss_mb": rss_mb(process.pid)}
        )
        return result
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-rasa", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    texts = [e.text for e in load_examples(DEV_DIR)]
    results = {"embedded": bench_embedded(texts, args.repeat)}
    if not args.no_rasa:
        results["rasa"] = bench_rasa(texts, 1)
    keys = sorted(
        {k for r in results.values() for k in r},
        key=lambda k: list(results["embedded"]).index(k) if k in results["embedded"] else 99,
    )
    print(f"{'metric':<22}" + "".join(f"{name:>14}" for name in results))
    for key in keys:
        print(
            f"{key:<22}" + "".join(f"{r[key]:>14.3f}" if key in r else f"{'-':>14}" for r in results.values())
        )
    print(f"({len(texts)} dev messages; machine: {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
