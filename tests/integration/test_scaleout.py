"""Scale-out and worker faults, with real parts: Debian's nginx (configured with the rules of
deploy/nginx/notalone-locations.conf) in front of two `notalone serve` processes that share one
PostgreSQL database, Telegram updates posted to nginx as webhooks, replies sent to the local fake
Bot API. Checked from the database and from what the fake Bot API received:

- every update is stored once and answered, one chat's updates in the order they were sent, though
  consecutive updates of a chat land on different workers;
- every reply reaches the chat once, in the order the transcript has it;
- a worker killed with SIGKILL mid-conversation and started again loses nothing (message, case,
  outbox item) and sends no reply twice, except a send that was in flight when it died.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from bot.web import SECRET_HEADER
from storage.chat_ids import ChatIdCipher
from tests.conftest import CRISIS, SCAM
from tests.integration.conftest import free_port, pg_database
from tests.integration.fake_telegram import FakeTelegram

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NOTALONE = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "notalone")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LOCATIONS = ROOT / "deploy" / "nginx" / "notalone-locations.conf"
SECRET = "s3cret-scaleout-webhook"
PSEUDONYM_KEY = "workers-under-test-pseudonym-key-" + "k" * 16
# Short leases, so a killed worker's updates and replies are taken over within the test; long
# enough that a live worker on this busy 2-core machine (two workers, nginx, PostgreSQL and the
# driver) keeps them.
LEASE_S = 4
OUTBOX_LEASE_S = 10
TEXTS = [
    "chào bạn",
    SCAM,
    "có người bảo mình chuyển 500k để nhận quà",
    "mình sợ quá",
    "họ bảo ko được kể với ai",
    "acc game của mình bị khoá rồi",
]


def nginx_config(tmp: Path, listen: int, workers: list[int]) -> Path:
    """A minimal nginx.conf around the deployed location rules, on 127.0.0.1 without TLS."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in workers)
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream notalone_workers {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{listen};
        include {LOCATIONS};
    }}
}}
""",
        encoding="utf-8",
    )
    return conf


def worker_env(
    fake: FakeTelegram, db_url: str, nlu_cache: Path, public_url: str, **settings: str
) -> dict[str, str]:
    """The environment of a `notalone serve` worker under test: this test's database, fake Bot API and
    webhook secret, no NOTALONE_* setting of the machine running the tests, and `settings` (e.g.
    WORKERS__LEASE_S="4" for NOTALONE_WORKERS__LEASE_S)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
    env |= {
        "NOTALONE_NLU__CACHE_DIR": str(nlu_cache),
        "NOTALONE_STORAGE__URL": db_url,
        "NOTALONE_PRIVACY__PSEUDONYM_KEY": PSEUDONYM_KEY,
        "NOTALONE_TELEGRAM__TOKEN": fake.token,
        "NOTALONE_TELEGRAM__API_BASE_URL": fake.url,
        "NOTALONE_TELEGRAM__PUBLIC_BASE_URL": public_url,
        "NOTALONE_TELEGRAM__WEBHOOK_SECRET": SECRET,
        "NOTALONE_IMAGES__ENABLED": "false",
    }
    return env | {f"NOTALONE_{key}": value for key, value in settings.items()}


async def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url, timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


@dataclass
class Cluster:
    fake: FakeTelegram
    db_url: str
    tmp: Path
    env: dict[str, str]
    proxy: str = ""
    workers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    nginx: subprocess.Popen[bytes] | None = None
    kill_times: list[float] = field(default_factory=list)

    def start_worker(self, port: int) -> None:
        log = (self.tmp / f"worker-{port}.log").open("ab")
        self.workers[port] = subprocess.Popen(
            [
                NOTALONE,
                "--config",
                str(self.tmp / "config.yaml"),
                "--log-level",
                "INFO",
                "serve",
                "--port",
                str(port),
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=self.tmp,
        )

    def kill(self, port: int) -> None:
        self.kill_times.append(time.monotonic())
        self.workers[port].send_signal(signal.SIGKILL)
        self.workers[port].wait(timeout=10)

    def stop_workers(self) -> None:
        """Stop every worker still running, as systemd stops one (SIGTERM, then wait)."""
        for process in self.workers.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)

    def log_of(self, port: int) -> str:
        return (self.tmp / f"worker-{port}.log").read_text(encoding="utf-8", errors="replace")

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        url = make_url(self.db_url)
        conn = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, database=url.database
        )
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def post(self, client: httpx.AsyncClient, update: dict[str, Any], *, to: str = "") -> None:
        """Post a webhook like Telegram does: again and again until it is acknowledged with 200 (to
        nginx, or straight `to` a worker's base URL)."""
        headers = {SECRET_HEADER: SECRET}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                response = await client.post(
                    f"{to or self.proxy}/webhooks/telegram", json=update, headers=headers
                )
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError("an update was never acknowledged")

    async def settled(self, expected_in: int, timeout: float = 120.0) -> None:
        """Every update stored, handled, and every reply sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            (row,) = await self.query(
                "SELECT (SELECT count(*) FROM inbox WHERE status = 'pending') AS inbox,"
                " (SELECT count(*) FROM outbox WHERE status = 'pending') AS outbox,"
                " (SELECT count(*) FROM messages WHERE direction = 'in') AS ins"
            )
            if row["inbox"] == 0 and row["outbox"] == 0 and row["ins"] >= expected_in:
                return
            await asyncio.sleep(0.25)
        raise AssertionError(f"not settled: {dict(row)}")

    async def transcripts(self) -> dict[int, list[tuple[str, str]]]:
        """Per Telegram chat: (direction, text) of every stored message, in the order stored."""
        rows = await self.query(
            "SELECT u.id, u.chat_id, m.direction, m.text FROM messages m"
            " JOIN conversations c ON c.id = m.conversation_id JOIN users u ON u.id = c.user_id"
            " ORDER BY m.id"
        )
        chat_ids = ChatIdCipher.derive(PSEUDONYM_KEY.encode())  # stored encrypted, as bot/main.py does
        found: dict[int, list[tuple[str, str]]] = {}
        for row in rows:
            chat = int(chat_ids.decrypt(row["id"], row["chat_id"]))
            found.setdefault(chat, []).append((row["direction"], row["text"] or ""))
        return found


@pytest.fixture
async def cluster(tmp_path: Path, nlu_cache: Path) -> AsyncIterator[Cluster]:
    if not Path(NGINX).exists():
        pytest.fail("Debian's nginx is needed (scripts/setup installs it)")
    fake = FakeTelegram()
    await fake.start()
    databases = contextlib.AsyncExitStack()
    db_url = await databases.enter_async_context(pg_database())
    proxy_port = free_port()
    env = worker_env(
        fake,
        db_url,
        nlu_cache,
        f"http://127.0.0.1:{proxy_port}",
        WORKERS__LEASE_S=str(LEASE_S),
        WORKERS__OUTBOX_LEASE_S=str(OUTBOX_LEASE_S),
    )
    (tmp_path / "config.yaml").write_text("storage:\n  data_dir: data\n", encoding="utf-8")
    found = Cluster(fake=fake, db_url=db_url, tmp=tmp_path, env=env, proxy=f"http://127.0.0.1:{proxy_port}")
    ports = [free_port(), free_port()]
    try:
        for port in ports:  # both at once on an empty database: one migrates, the other waits
            found.start_worker(port)
        for port in ports:
            await wait_http(f"http://127.0.0.1:{port}/readyz")
        conf = nginx_config(tmp_path, proxy_port, ports)
        found.nginx = subprocess.Popen([NGINX, "-c", str(conf), "-e", str(tmp_path / "nginx-error.log")])
        await wait_http(f"{found.proxy}/healthz")
        yield found
    finally:
        if found.nginx is not None:
            found.nginx.terminate()
            found.nginx.wait(timeout=10)
        found.stop_workers()
        await fake.stop()
        await databases.aclose()


def worker_ports(cluster: Cluster) -> list[int]:
    return list(cluster.workers)


async def converse(cluster: Cluster, chats: list[int], texts_of: dict[int, list[str]], gap_s: float) -> None:
    """Each chat sends its messages one after another without waiting for answers; chats at once."""

    async def one(client: httpx.AsyncClient, chat: int) -> None:
        for text in texts_of[chat]:
            await cluster.post(client, cluster.fake.message_update(chat, text))
            await asyncio.sleep(gap_s)

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(one(client, chat) for chat in chats))


def check_order_and_delivery(
    cluster: Cluster, transcripts: dict[int, list[tuple[str, str]]], texts_of: dict[int, list[str]]
) -> dict[int, int]:
    """Stored in order, each answered before the next is handled, delivered as stored; returns the
    number of replies each chat received twice."""
    twice: dict[int, int] = {}
    for chat, sent in texts_of.items():
        stored = transcripts[chat]
        assert [t for d, t in stored if d == "in"] == sent, (
            f"chat {chat}: updates lost, repeated or reordered"
        )
        for i, (direction, _) in enumerate(stored):
            if direction == "in":
                assert i + 1 < len(stored) and stored[i + 1][0] == "out", f"chat {chat}: a message unanswered"
        replies = [t for d, t in stored if d == "out"]
        twice[chat] = repeats(cluster.fake.delivered(chat), replies, chat)
    return twice


def repeats(delivered: list[str], replies: list[str], chat: int) -> int:
    """How many replies were sent twice in a row; fails unless what was sent is the transcript's
    replies, all of them, in order (a repeat aside)."""
    i = count = 0
    for text in delivered:
        if i < len(replies) and text == replies[i]:
            i += 1
        elif i > 0 and text == replies[i - 1]:
            count += 1
        else:
            expected = replies[i][:60] if i < len(replies) else "nothing more"
            raise AssertionError(
                f"chat {chat}: reply {i + 1} of {len(replies)} expected {expected!r}, got {text[:60]!r}"
            )
    assert i == len(replies), f"chat {chat}: {len(replies) - i} replies never sent"
    return count


async def test_two_workers_behind_nginx_keep_each_chats_order_and_deliver_everything(
    cluster: Cluster,
) -> None:
    chats = list(range(7001, 7021))  # 20 students
    texts_of = {chat: [f"{t} (tin {k})" for k, t in enumerate(TEXTS, 1)] for chat in chats}
    texts_of[chats[0]][2] = CRISIS  # one student in danger: a case is opened, nothing else changes
    await converse(cluster, chats, texts_of, gap_s=0.02)
    await cluster.settled(expected_in=sum(len(t) for t in texts_of.values()))

    twice = check_order_and_delivery(cluster, await cluster.transcripts(), texts_of)
    assert sum(twice.values()) == 0  # no worker died: nothing may be sent twice
    assert len(await cluster.query("SELECT id FROM cases")) == 1
    # Both workers took updates through nginx and handled some of them.
    handled = [cluster.log_of(port).count('"message in"') for port in worker_ports(cluster)]
    assert all(n > 0 for n in handled), handled
    assert sum(handled) == sum(len(t) for t in texts_of.values())
    print(f"two workers: {handled[0]} and {handled[1]} updates handled, all in order, none twice")


async def test_a_worker_killed_mid_conversation_loses_nothing_and_repeats_nothing(cluster: Cluster) -> None:
    chats = list(range(8001, 8013))  # 12 students, 10 messages each, a crisis in every third
    texts_of = {chat: [f"{TEXTS[k % len(TEXTS)]} (tin {k})" for k in range(10)] for chat in chats}
    for chat in chats[::3]:
        texts_of[chat][4] = CRISIS
    victim = worker_ports(cluster)[0]
    # One more student's message goes straight to the victim, whose answer to it hangs in the Bot
    # API: the kill lands while the victim holds that update's lease and its reply's, whatever the
    # timing of the others.
    straggler = 8099
    texts_of[straggler] = [SCAM]
    cluster.fake.delays[("sendMessage", straggler)] = 3.0

    async def chaos() -> None:
        await asyncio.sleep(1.5)
        async with httpx.AsyncClient(timeout=10) as client:
            update = cluster.fake.message_update(straggler, SCAM)
            await cluster.post(client, update, to=f"http://127.0.0.1:{victim}")
        await cluster.fake.wait_for(1, "sendMessage", chat_id=straggler)
        cluster.kill(victim)  # SIGKILL: no clean-up of any kind
        await asyncio.sleep(3.0)
        cluster.start_worker(victim)

    await asyncio.gather(converse(cluster, chats, texts_of, gap_s=0.3), chaos())
    await cluster.settled(expected_in=sum(len(t) for t in texts_of.values()))

    assert cluster.workers[victim].poll() is None  # restarted, and running
    twice = check_order_and_delivery(cluster, await cluster.transcripts(), texts_of)
    # A reply the dead worker had handed to Telegram but not yet marked sent is sent again (Telegram
    # has no idempotency key): at most the sends in flight at the kill, one per chat it was serving.
    assert sum(twice.values()) <= len(chats) // 2, twice
    cases = await cluster.query("SELECT c.id FROM cases c")
    assert len(cases) == len(chats[::3])  # every crisis opened its case, once
    (dead,) = await cluster.query("SELECT count(*) AS n FROM inbox WHERE status <> 'done'")
    assert dead["n"] == 0
    # The kill hit work in flight: updates the dead worker had leased (the straggler's at least) were
    # taken over and finished.
    (taken_over,) = await cluster.query("SELECT count(*) AS n FROM inbox WHERE attempts > 1")
    assert taken_over["n"] >= 1
    print(f"kill -9: {taken_over['n']} updates taken over, {sum(twice.values())} replies sent twice")
