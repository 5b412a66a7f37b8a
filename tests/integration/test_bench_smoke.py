"""bench/e2e.py still runs: a quick SQLite-only pass exits 0 and reports a positive throughput."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_e2e_benchmark_quick_sqlite() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "e2e.py"), "--quick", "--only", "sqlite"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if "updates/s" in line and line.startswith("system"))
    row = next(line for line in lines if line.startswith("notalone sqlite"))
    # The row's value under the "updates/s" column (columns are right-aligned to the header).
    end = header.index("updates/s") + len("updates/s")
    value = re.findall(r"[\d.]+", row[:end])
    assert value, f"no updates/s value in {row!r}"
    assert float(value[-1]) > 0, row
