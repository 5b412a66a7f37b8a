"""Fault: PostgreSQL restarted under load. A private PostgreSQL server (initdb into a temporary
folder, its own port) so the restart touches no other test; one `notalone serve` worker on it;
students keep writing through the restart, and their webhooks are posted again while the worker
answers 503, as Telegram does. Afterwards every message is stored once and answered, and every
reply reached its chat once, in order."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import SCAM
from tests.integration.conftest import free_port
from tests.integration.fake_telegram import FakeTelegram
from tests.integration.test_scaleout import (
    Cluster,
    check_order_and_delivery,
    converse,
    wait_http,
    worker_env,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1:] or [""]
PG_BIN = Path(BIN[0])


def as_postgres(*command: str) -> subprocess.CompletedProcess[str]:
    """PostgreSQL refuses to run as root: its tools run as the postgres system user."""
    runner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*runner, *command], capture_output=True, text=True, check=False)


@pytest.fixture
def private_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL's server binaries are needed (/usr/lib/postgresql/*/bin)")
    home = tmp_path_factory.mktemp("pg")
    data = home / "data"
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
        home.chmod(0o755)
        for parent in home.parents:  # the postgres user must be able to reach the folder
            if str(parent).startswith("/tmp/") and parent != Path("/tmp"):
                parent.chmod(parent.stat().st_mode | 0o011)
    port = free_port()
    done = as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    assert done.returncode == 0, done.stderr
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{home}'\nfsync = off\n"
        )
    started = as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(home / "log"), "-w", "start")
    assert started.returncode == 0, started.stderr + (home / "log").read_text(errors="replace")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres", data
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")


@pytest.fixture
async def worker(tmp_path: Path, nlu_cache: Path, private_pg: tuple[str, Path]) -> AsyncIterator[Cluster]:
    db_url, _ = private_pg
    fake = FakeTelegram()
    await fake.start()
    port = free_port()
    env = worker_env(fake, db_url, nlu_cache, f"http://127.0.0.1:{port}", WORKERS__LEASE_S="2")
    (tmp_path / "config.yaml").write_text("storage:\n  data_dir: data\n", encoding="utf-8")
    found = Cluster(fake=fake, db_url=db_url, tmp=tmp_path, env=env, proxy=f"http://127.0.0.1:{port}")
    found.start_worker(port)
    try:
        await wait_http(f"{found.proxy}/readyz")
        yield found
    finally:
        found.stop_workers()
        await fake.stop()


async def test_postgresql_restarted_under_load_loses_and_repeats_nothing(
    worker: Cluster, private_pg: tuple[str, Path]
) -> None:
    _, data = private_pg
    chats = list(range(9101, 9111))
    texts_of = {
        chat: [f"{SCAM} (tin {k})" if k % 2 else f"mình hỏi chút (tin {k})" for k in range(8)]
        for chat in chats
    }
    outage: dict[str, float] = {}

    async def restart() -> None:
        await asyncio.sleep(2.0)
        began = time.monotonic()
        stopped = await asyncio.to_thread(
            as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"
        )
        assert stopped.returncode == 0, stopped.stderr
        await asyncio.sleep(3.0)  # down for a few seconds: webhooks meanwhile get 503
        started = await asyncio.to_thread(
            as_postgres,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(data.parent / "log"),
            "-w",
            "start",
        )
        assert started.returncode == 0, started.stderr
        outage["down_s"] = time.monotonic() - began

    await asyncio.gather(converse(worker, chats, texts_of, gap_s=0.4), restart())
    await worker.settled(expected_in=sum(len(t) for t in texts_of.values()), timeout=120)

    twice = check_order_and_delivery(worker, await worker.transcripts(), texts_of)
    assert sum(twice.values()) == 0
    log = worker.log_of(next(iter(worker.workers)))
    assert "database unavailable" in log or "storage unavailable" in log  # the restart was felt
    assert worker.workers[next(iter(worker.workers))].poll() is None  # the worker rode it out
    print(f"PostgreSQL down {outage['down_s']:.1f} s under load: nothing lost, nothing sent twice")
