"""What the benchmarks share: a free port, a process's CPU time and memory, a throw-away database,
and the greetings their simulated students send."""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
# What a simulated student says besides scams (no crisis: the NLU must not open a case for them).
GREETINGS = ("xin chào", "chào bot ạ", "alo, có ai ở đây không", "hi bạn, mình hỏi chút được không")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int, key: str = "VmRSS") -> float:
    """A memory field of /proc/<pid>/status in MB (VmRSS now, VmHWM the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@asynccontextmanager
async def postgres_database(prefix: str = "bench") -> AsyncIterator[str]:
    """A new database <prefix>_<random> for one run, dropped afterwards (also on Ctrl-C)."""
    import asyncpg  # noqa: PLC0415 - only the PostgreSQL runs need it
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    url = make_url(PG_URL)
    admin = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
