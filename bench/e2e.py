"""End-to-end benchmark: notalone on SQLite and PostgreSQL, and a bare PTB echo bot, in one run.

    .venv/bin/python bench/e2e.py [--students 100] [--messages 5] [--only SYSTEM ...] [--quick]
    .venv/bin/python bench/e2e.py --only polling --only echo-polling   # long polling, both bots
    .venv/bin/python bench/e2e.py --only postgres --open-loop 10 20 30 50 [--seconds 20]

Prints numbers; asserts nothing. Each system runs in a fresh child process (this script with --serve):
uvicorn on 127.0.0.1 serving the real web app, so an update goes webhook -> PTB Application -> core ->
embedded NLU -> database, and the bot's Bot API calls go to a fake Telegram server in this process.
N students chat at once; each sends its next message only after the bot answered the previous one.
Latency: from POSTing an update to the fake receiving the first sendMessage of that turn. Telegram's
send limit (telegram.max_sends_per_second) is lifted unless --telegram-limit: it would cap every
system at about 25 API calls/s and the benchmark would measure the limiter, not the bot.
--open-loop: after the closed loop, updates arrive at each given rate (Poisson, from 200 students in
turn) whether or not the earlier ones were answered, as Telegram sends them; latency per update.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from fastapi import FastAPI, Request, Response
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import (  # noqa: E402
    GREETINGS,
    cpu_seconds,
    free_port,
    own_cpu_seconds,
    postgres_database,
    proc_status,
)
from tests.integration.fake_telegram import FakeTelegram  # noqa: E402

CACHE = ROOT / "data" / "nlu-cache"
SECRET = "bench-webhook-secret"
WEBHOOK = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SYSTEMS = {
    "sqlite": "notalone sqlite",
    "postgres": "notalone postgres",
    "postgres2": "notalone pg x2",
    "echo": "ptb echo",
    "polling": "notalone pg poll",
    "echo-polling": "ptb echo poll",
}
# Systems fed by long polling (the driver puts updates on the fake's getUpdates), and the echo bot
# each is compared with.
POLLING = ("polling", "echo-polling")
ECHO_OF = {"sqlite": "echo", "postgres": "echo", "postgres2": "echo", "polling": "echo-polling"}
UNLIMITED_SENDS = 1_000_000


# The load: students, a fake Telegram that notes when each chat's answer arrives ----------------------
@dataclass
class TimedTelegram(FakeTelegram):
    """The fake Bot API; a student waiting on a chat learns when that chat's next reply arrives (the
    first sendMessage after the update: notalone answers a text with one message, as the echo bot does).
    """

    # Per chat, the updates still waiting for their answer, oldest first (a chat's answers come in
    # the order of its updates; the open loop can have several of a chat's updates in flight).
    pending: dict[int, deque[asyncio.Future[float]]] = field(default_factory=dict)

    def expect(self, chat_id: int) -> asyncio.Future[float]:
        reply: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.pending.setdefault(chat_id, deque()).append(reply)
        return reply

    def forget(self, chat_id: int, reply: asyncio.Future[float]) -> None:
        """An update that will get no answer (refused, or timed out): not waited for any more."""
        waiting = self.pending.get(chat_id)
        if waiting is not None and reply in waiting:
            waiting.remove(reply)

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        now = time.perf_counter()
        if method == "sendMessage":
            waiting = self.pending.get(int(params.get("chat_id") or 0))
            if waiting:
                reply = waiting.popleft()
                if not reply.done():
                    reply.set_result(now)
        return await super()._result(method, params)


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)  # by HTTP status or client error
    missing: int = 0
    last_reply: float = 0.0


async def student(
    chat_id: int,
    texts: list[str],
    fake: TimedTelegram,
    session: aiohttp.ClientSession,
    urls: list[str],
    timeout: float,
    stats: Stats,
) -> None:
    """Send each message by webhook (or, without `urls`, for the bot's next getUpdates) and wait for
    the bot's answer before the next one (with several workers, a chat's messages go to them in
    turn, as a round-robin proxy would send them)."""
    for n, text in enumerate(texts):
        update = fake.message_update(chat_id, text)
        reply = fake.expect(chat_id)
        started = time.perf_counter()
        if not urls:
            fake.push_update(update)
            outcome = "200"
        else:
            try:
                url = urls[(chat_id + n) % len(urls)]
                async with session.post(url, json=update, headers={SECRET_HEADER: SECRET}) as response:
                    outcome = str(response.status)
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = type(exc).__name__
        if outcome != "200":
            stats.rejected[outcome] = stats.rejected.get(outcome, 0) + 1
            fake.forget(chat_id, reply)
            continue
        try:
            at = await asyncio.wait_for(asyncio.shield(reply), timeout)
        except TimeoutError:
            stats.missing += 1
            fake.forget(chat_id, reply)
            continue
        stats.latencies.append(at - started)
        stats.last_reply = max(stats.last_reply, at)


async def one_update(
    chat_id: int,
    text: str,
    fake: TimedTelegram,
    session: aiohttp.ClientSession,
    url: str,
    timeout: float,
    stats: Stats,
) -> None:
    """The open loop's unit: one update posted, its answer waited for (nothing else waits for it)."""
    await student(chat_id, [text], fake, session, [url] if url else [], timeout, stats)


async def open_loop(
    fake: TimedTelegram, base_urls: list[str], rate: float, seconds: float, timeout: float, chats: int
) -> tuple[Stats, float]:
    """Updates arriving at `rate` a second (Poisson), whether or not earlier ones were answered,
    for `seconds`, from `chats` students in turn; returns the stats and the offered duration."""
    texts = [t for ts in conversations(chats, 5, first_chat=1).values() for t in ts]
    rng = random.Random(20)  # the same arrivals in every run
    stats = Stats()
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=3)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        due, n, tasks = started, 0, []
        while due - started < seconds:
            due += rng.expovariate(rate)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            chat = 5_000_000 + n % chats
            url = base_urls[n % len(base_urls)] + WEBHOOK if base_urls else ""
            tasks.append(
                asyncio.create_task(
                    one_update(chat, texts[n % len(texts)], fake, session, url, timeout, stats)
                )
            )
            n += 1
        await asyncio.gather(*tasks)
    return stats, seconds


async def load(
    fake: TimedTelegram, base_urls: list[str], plan: dict[int, list[str]], timeout: float
) -> tuple[Stats, float]:
    """All students at once; returns their stats and the wall time to the last reply."""
    stats = Stats()
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends: a reused connection the server is
    # closing at that moment would fail the POST (Telegram would redeliver; this driver does not).
    connector = aiohttp.TCPConnector(limit=len(plan) + 8, keepalive_timeout=3)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                student(chat, texts, fake, session, [u + WEBHOOK for u in base_urls], timeout, stats)
                for chat, texts in plan.items()
            )
        )
    return stats, max(stats.last_reply, started) - started


def conversations(students: int, messages: int, first_chat: int = 1) -> dict[int, list[str]]:
    """Each student: a greeting first, then scam messages, every fourth message a crisis."""
    from nlu.data import DEV_DIR, load_examples

    dev = load_examples(DEV_DIR)
    scams = [e.text for e in dev if e.tactics and not e.crisis]
    crises = [e.text for e in dev if e.crisis]
    plan: dict[int, list[str]] = {}
    for s in range(students):
        texts = []
        for i in range(messages):
            k = s * messages + i
            if i == 0:
                texts.append(GREETINGS[k % len(GREETINGS)])
            elif i % 4 == 3:
                texts.append(crises[k % len(crises)])
            else:
                texts.append(scams[k % len(scams)])
        plan[first_chat + s] = texts
    return plan


# The bot process, seen from the driver ------------------------------------------------------------
@asynccontextmanager
async def bot_process(
    system: str, fake: FakeTelegram, workdir: Path, db_url: str | None, args: argparse.Namespace
) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """Start this script with --serve in a new session; stop it with SIGTERM (kill if it hangs).

    The wait is asynchronous: the fake Telegram in this process must keep answering the bot's last
    calls while it shuts down gracefully."""
    config = workdir / "config.yaml"
    config.write_text("storage:\n  data_dir: data\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
    env |= {
        "NOTALONE_TELEGRAM__TOKEN": fake.token,
        "NOTALONE_TELEGRAM__API_BASE_URL": fake.url,
        "NOTALONE_NLU__CACHE_DIR": str(CACHE),
        "PYTHONUNBUFFERED": "1",
    }
    if db_url is not None:
        env["NOTALONE_STORAGE__URL"] = db_url
        env["NOTALONE_PRIVACY__PSEUDONYM_KEY"] = "bench-pseudonym-key-" + "k" * 16
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", system, "--port", str(port)]
    command += ["--config", str(config)]
    if args.telegram_limit:
        command.append("--telegram-limit")
    if args.profile:
        command += ["--profile-to", str(workdir / "profile.pstats")]
    log = (workdir / "bot.log").open("wb")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + 30
                while process.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


async def wait_ready(
    process: subprocess.Popen[bytes], base_url: str, log: Path, timeout: float = 300
) -> None:
    """Poll /readyz until the bot answers 200 (the first start may train the NLU model)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"the bot process exited with {process.returncode}:\n{tail}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(base_url + "/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise SystemExit(f"the bot did not become ready within {timeout:.0f}s (log: {log})")


async def wait_polling(fake: FakeTelegram, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until the bot polls the fake for updates (the first start may train the NLU model)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the bot process exited with {process.returncode}:\n{tail}")
        if fake.sent("getUpdates"):
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"the bot did not start polling (log: {log})")


async def wait_for_file(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # let the writer finish


@dataclass
class Result:
    system: str
    processed: int
    wall_s: float
    latencies_ms: list[float]
    errors: int
    rss_mb: float
    bot_cpu_s: float
    driver_cpu_s: float
    profile: dict[str, float] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    log_problems: dict[str, int] = field(default_factory=dict)
    open_rows: list[str] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)  # Bot API calls of the timed part, by method

    @property
    def rate(self) -> float:
        return self.processed / self.wall_s if self.wall_s > 0 else 0.0

    def busy(self, cpu_s: float) -> float:
        return cpu_s / self.wall_s if self.wall_s > 0 else 0.0


async def run_system(system: str, args: argparse.Namespace) -> Result:
    """One system from scratch: fresh fake, fresh database and bot process, warm-up, then the timed load."""
    fake = TimedTelegram()
    await fake.start()
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-{system}-") as tmp:
            workdir = Path(tmp)
            async with contextlib.AsyncExitStack() as stack:
                db_url = (
                    await stack.enter_async_context(postgres_database())
                    if system in ("postgres", "postgres2", "polling")
                    else None
                )
                # postgres2: two worker processes on one database (the scale-out of deploy/).
                workers = []
                for n in range(2 if system == "postgres2" else 1):
                    folder = workdir / f"worker{n}"
                    folder.mkdir()
                    serving = "postgres" if system == "postgres2" else system
                    workers.append(
                        (
                            await stack.enter_async_context(bot_process(serving, fake, folder, db_url, args)),
                            folder,
                        )
                    )
                for (process, base_url), folder in workers:
                    if system in POLLING:
                        await wait_polling(fake, process, folder / "bot.log")
                    else:
                        await wait_ready(process, base_url, folder / "bot.log")
                urls = [] if system in POLLING else [base_url for (_, base_url), _ in workers]
                processes = [process for (process, _), _ in workers]
                warm = conversations(args.warmup, 3, first_chat=9_000_000)
                await load(fake, urls, warm, args.timeout)
                plan = conversations(args.students, args.messages)
                if args.profile:
                    processes[0].send_signal(signal.SIGUSR1)
                bot_before = sum(cpu_seconds(p.pid) for p in processes)
                own_before = own_cpu_seconds()
                calls_before = len(fake.calls)
                stats, wall = await load(fake, urls, plan, args.timeout)
                api_calls: dict[str, int] = {}
                for call in fake.calls[calls_before:]:
                    api_calls[call.method] = api_calls.get(call.method, 0) + 1
                bot_cpu = sum(cpu_seconds(p.pid) for p in processes) - bot_before
                driver_cpu = own_cpu_seconds() - own_before
                if args.profile:
                    processes[0].send_signal(signal.SIGUSR2)
                    await wait_for_file(workdir / "worker0" / "profile.pstats")
                open_rows = []
                for rate in args.open_loop or ():
                    await asyncio.sleep(3)  # what the previous load left is handled first
                    before = sum(cpu_seconds(p.pid) for p in processes)
                    offered, seconds = await open_loop(fake, urls, rate, args.seconds, args.timeout, 200)
                    cpu = sum(cpu_seconds(p.pid) for p in processes) - before
                    open_rows.append(open_row(system, rate, offered, seconds, cpu))
                rss = max(proc_status(p.pid, "VmHWM") for p in processes)
            profile = summarize(workdir / "worker0" / "profile.pstats") if args.profile else {}
            if args.profile and args.keep_profile:
                shutil.copy(workdir / "worker0" / "profile.pstats", f"{args.keep_profile}.{system}.pstats")
            problems: dict[str, int] = {}
            for _, folder in workers:
                for problem, count in log_problems(folder / "bot.log").items():
                    problems[problem] = problems.get(problem, 0) + count
    finally:
        await fake.stop()
    return Result(
        system=SYSTEMS[system],
        processed=len(stats.latencies),
        wall_s=wall,
        latencies_ms=[x * 1000 for x in stats.latencies],
        errors=sum(stats.rejected.values()) + stats.missing,
        error_kinds={
            **{f"webhook answer {k}": v for k, v in stats.rejected.items()},
            **({f"no reply within {args.timeout:.0f}s": stats.missing} if stats.missing else {}),
        },
        rss_mb=rss,
        bot_cpu_s=bot_cpu,
        driver_cpu_s=driver_cpu,
        profile=profile,
        log_problems=problems,
        open_rows=open_rows,
        api_calls=api_calls,
    )


def open_row(system: str, rate: float, stats: Stats, seconds: float, cpu_s: float) -> str:
    """One line of the open-loop table."""
    answered = len(stats.latencies)
    sent = answered + stats.missing + sum(stats.rejected.values())
    ms = sorted(x * 1000 for x in stats.latencies) or [float("nan")]
    p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    errors = sent - answered
    return (
        f"{SYSTEMS[system]:<18}{rate:>8.0f}{sent / seconds:>9.1f}{answered:>9}{p50:>11.1f}{p99:>10.1f}"
        f"{errors:>8}{cpu_s * 1000 / max(answered, 1):>12.1f}"
    )


def log_problems(path: Path) -> dict[str, int]:
    """Warnings and errors the bot logged (JSON lines), counted by event and exception type."""
    found: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = {"level": "error", "event": line[:120]}  # a traceback or a line not from our logger
        if not isinstance(entry, dict) or entry.get("level") not in ("warning", "error", "critical"):
            continue
        key = f"{entry['level']}: {entry.get('event')}"
        if entry.get("exception"):
            key += f" ({entry['exception']})"
        if entry.get("error"):
            key += f" [{entry['error']}]"
        found[key] = found.get(key, 0) + 1
    return found


# Where the bot's CPU time goes (--profile) ---------------------------------------------------------
BUCKETS = (
    ("nlu (nlu/, sklearn, numpy, scipy)", (f"{ROOT}/nlu/", "/sklearn/", "/numpy/", "/scipy/", "/narwhals/")),
    ("core (handlers/, content/)", (f"{ROOT}/handlers/", f"{ROOT}/content/")),
    ("sqlalchemy + storage/", ("/sqlalchemy/", f"{ROOT}/storage/", "greenlet")),
    ("db drivers (asyncpg, aiosqlite)", ("/asyncpg/", "/aiosqlite/", "sqlite3")),
    ("ptb (telegram/, bot/telegram/)", ("/telegram/",)),
    ("web server (uvicorn, h11, starlette, fastapi)", ("/uvicorn/", "/starlette/", "/fastapi/", "/h11/")),
    ("bot api client (httpx, httpcore, anyio)", ("/httpx/", "/httpcore/", "/anyio/")),
    ("pydantic", ("/pydantic",)),
    ("asyncio event loop", ("/asyncio/", "selectors.py")),
)
IDLE = ("<method 'poll' of 'select.epoll' objects>",)


def bucket_of(filename: str) -> str:
    return next((label for label, keys in BUCKETS if any(k in filename for k in keys)), "other")


def summarize(path: Path) -> dict[str, float]:
    """Share of the bot's busy CPU time per part of the stack (own time of each function; time in a
    C function such as socket.send counts for the Python code that called it; epoll waits are idle)."""
    if not path.exists():
        return {}
    raw: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    shares: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, tottime, _ct, callers) in raw.items():
        if name in IDLE:
            continue
        if filename != "~" or not callers:
            shares[bucket_of(filename)] = shares.get(bucket_of(filename), 0.0) + tottime
            continue
        spread = sum(c[2] for c in callers.values()) or 1.0
        for (caller_file, _l, _n), c in callers.items():
            part = tottime * c[2] / spread
            shares[bucket_of(caller_file)] = shares.get(bucket_of(caller_file), 0.0) + part
    total = sum(shares.values())
    return {k: v / total for k, v in sorted(shares.items(), key=lambda kv: -kv[1])} if total else {}


# The bot process itself (--serve) ------------------------------------------------------------------
def echo_application(token: str, api_base_url: str, *, polling: bool) -> Any:
    """The framework's ceiling: a PTB Application that echoes text (with PTB's Updater: polling)."""
    builder = Application.builder().token(token).base_url(f"{api_base_url}/bot").concurrent_updates(True)
    application = (builder if polling else builder.updater(None)).build()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text:
            await context.bot.send_message(message.chat_id, message.text)

    application.add_handler(MessageHandler(filters.TEXT, echo))
    return application


def echo_web_app(token: str, api_base_url: str) -> FastAPI:
    """The echo bot fed by a bare webhook route."""
    application = echo_application(token, api_base_url, polling=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with application:
            await application.start()
            yield
            await application.stop()

    web = FastAPI(lifespan=lifespan)

    @web.get("/readyz")
    async def readyz() -> Response:
        return Response(status_code=200 if application.running else 503)

    @web.post(WEBHOOK)
    async def webhook(request: Request) -> Response:
        if request.headers.get(SECRET_HEADER) != SECRET:
            return Response(status_code=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return Response(status_code=200)

    return web


async def notalone_web_app(config: Path, telegram_limit: bool) -> Any:
    """The real thing: build_app, the PTB Application for webhooks, and the project's web app."""
    from bot.main import build_app
    from bot.serve import freeze_startup_objects
    from bot.settings import load_settings
    from bot.telegram.app import build_application
    from bot.web import create_web_app

    settings = load_settings(config)
    app = await build_app(settings)
    telegram = settings.telegram
    if not telegram_limit:
        telegram = telegram.model_copy(update={"max_sends_per_second": UNLIMITED_SENDS})
    application = build_application(telegram, app, webhook=True)
    web = create_web_app(app, application, secret=SECRET, webhook_url=None)
    freeze_startup_objects()
    return web


async def serve(args: argparse.Namespace) -> None:
    """Run one bot on 127.0.0.1:<port> (or, polling, against the fake's getUpdates) until SIGTERM
    or until the driver process is gone."""
    import uvicorn

    if args.profile_to:
        profiler = cProfile.Profile()

        def dump() -> None:
            profiler.disable()
            profiler.dump_stats(args.profile_to)

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
        loop.add_signal_handler(signal.SIGUSR2, dump)
    parent = os.getppid()

    async def orphaned() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    watchdog = asyncio.create_task(orphaned())
    try:
        if args.serve == "polling":
            await notalone_polling(Path(args.config), args.telegram_limit)
            return
        if args.serve == "echo-polling":
            await echo_polling()
            return
        if args.serve == "echo":
            web = echo_web_app(
                os.environ["NOTALONE_TELEGRAM__TOKEN"], os.environ["NOTALONE_TELEGRAM__API_BASE_URL"]
            )
        else:
            web = await notalone_web_app(Path(args.config), args.telegram_limit)
        server = uvicorn.Server(
            uvicorn.Config(web, host="127.0.0.1", port=args.port, log_config=None, access_log=False)
        )
        await server.serve()
    finally:
        watchdog.cancel()


async def notalone_polling(config: Path, telegram_limit: bool) -> None:
    """`notalone run telegram` itself (long polling through the inbox), the send limit lifted."""
    from bot.serve import run_telegram
    from bot.settings import load_settings

    settings = load_settings(config)
    if not telegram_limit:
        lifted = settings.telegram.model_copy(update={"max_sends_per_second": UNLIMITED_SENDS})
        settings = settings.model_copy(update={"telegram": lifted})
    await run_telegram(settings)


async def echo_polling() -> None:
    """The echo bot on PTB's own long polling (its Updater), until SIGTERM."""
    application = echo_application(
        os.environ["NOTALONE_TELEGRAM__TOKEN"], os.environ["NOTALONE_TELEGRAM__API_BASE_URL"], polling=True
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(timeout=30, poll_interval=0)
        await application.start()
        await stop.wait()
        await application.updater.stop()
        await application.stop()


# Report ------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def kind_of(result: Result) -> str:
    """The --only name of a result's system."""
    return next(name for name, label in SYSTEMS.items() if label == result.system)


def report(results: list[Result], args: argparse.Namespace) -> None:
    limit = "kept (telegram.max_sends_per_second)" if args.telegram_limit else "lifted"
    print(
        f"students={args.students} messages={args.messages} updates={args.students * args.messages} "
        f"warm-up chats={args.warmup} reply timeout={args.timeout:.0f}s cores={os.cpu_count()} "
        f"telegram send limit={limit}"
    )
    header = (
        f"{'system':<18}{'updates/s':>10}{'median ms':>11}{'p99 ms':>9}{'errors':>8}{'RSS MB':>8}"
        f"{'x echo':>8}{'bot CPU':>9}{'CPU ms/upd':>12}{'driver CPU':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        base = next((e for e in results if e.system == SYSTEMS.get(ECHO_OF.get(kind_of(r), ""))), None)
        share = f"{r.rate / base.rate:.0%}" if base is not None and base.rate > 0 else "-"
        share = "100%" if r.system in (SYSTEMS["echo"], SYSTEMS["echo-polling"]) else share
        median = statistics.median(r.latencies_ms) if r.latencies_ms else float("nan")
        per_update = r.bot_cpu_s * 1000 / r.processed if r.processed else float("nan")
        print(
            f"{r.system:<18}{r.rate:>10.1f}{median:>11.1f}{pct(r.latencies_ms, 0.99):>9.1f}{r.errors:>8}"
            f"{r.rss_mb:>8.0f}{share:>8}{r.busy(r.bot_cpu_s):>9.0%}{per_update:>12.1f}"
            f"{r.busy(r.driver_cpu_s):>12.0%}"
        )
    print(
        "(bot CPU: the bot process's CPU time / wall time, 100% = one core; CPU ms/upd: its CPU time per "
        "update; driver: this process, students and fake Telegram)"
    )
    print(
        "(closed loop without think time: mean latency ~= students / updates/s, so with "
        f"{args.students} students a p99 <= 250 ms needs well over {args.students / 0.25:.0f} updates/s)"
    )
    rows = [row for r in results for row in r.open_rows]
    if rows:
        print(f"\nopen loop ({args.seconds:.0f} s a rate, Poisson arrivals from 200 students in turn):")
        header = (
            f"{'system':<18}{'offered':>8}{'sent/s':>9}{'answered':>9}{'p50 ms':>11}{'p99 ms':>10}"
            f"{'errors':>8}{'CPU ms/upd':>12}"
        )
        print(header)
        print("-" * len(header))
        print("\n".join(rows))
        print("(latency: from POSTing an update to its answer, the chat's next sendMessage)")
    for r in results:
        if r.processed:
            calls = ", ".join(f"{m} {n / r.processed:.2f}" for m, n in sorted(r.api_calls.items()))
            print(f"{r.system} Bot API calls per update: {calls}")
    print("targets (printed, not asserted):")

    def target(label: str, value: str, ok: bool) -> None:
        print(f"  {label:<46}{value:>10}  {'met' if ok else 'MISSED'}")

    pg = next((r for r in results if r.system == SYSTEMS["postgres"]), None)
    if pg is not None:
        p99 = pct(pg.latencies_ms, 0.99)
        cpu_ms = pg.bot_cpu_s * 1000 / max(pg.processed, 1)
        target("notalone postgres CPU ms/update <= 15", f"{cpu_ms:.1f}", cpu_ms <= 15)
        target("notalone postgres RSS <= 300 MB", f"{pg.rss_mb:.0f}", pg.rss_mb <= 300)
        print(f"  (closed-loop p99 {p99:.0f} ms: see the open loop for latency at a given rate)")
    for r in results:
        base = next((e for e in results if e.system == SYSTEMS.get(ECHO_OF.get(kind_of(r), ""))), None)
        if base is not None and base.rate > 0:
            fraction = r.rate / base.rate
            target(f"{r.system} >= 35% of {base.system}", f"{fraction:.0%}", fraction >= 0.35)
    for r in results:
        for kind, count in r.error_kinds.items():
            print(f"{r.system} error: {count} x {kind}")
        for problem, count in r.log_problems.items():
            print(f"{r.system} bot log: {count} x {problem}")
    for r in results:
        if r.profile:
            print(
                f"where {r.system}'s CPU time goes (cProfile, timed part only; profiling slows the bot, "
                "so this run's table is not the real speed):"
            )
            for bucket, part in r.profile.items():
                print(f"  {part:>6.1%}  {bucket}")


async def bench(args: argparse.Namespace) -> list[Result]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    from nlu.embedded import load_or_train

    load_or_train(CACHE)  # trained and cached once, before anything is timed
    results = []
    for system in args.only or list(SYSTEMS):
        print(f"running {SYSTEMS[system]} ...", file=sys.stderr, flush=True)
        results.append(await run_system(system, args))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=100, help="concurrent chats (default 100)")
    parser.add_argument("--messages", type=int, default=5, help="messages per student (default 5)")
    parser.add_argument(
        "--only", choices=list(SYSTEMS), action="append", help="run only this system (repeatable)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10 students, 3 messages")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up chats, 3 messages each (default 5)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds before a reply counts as missing"
    )
    parser.add_argument(
        "--telegram-limit", action="store_true", help="keep the configured Telegram send limit"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the bot during the timed part")
    parser.add_argument(
        "--open-loop",
        type=float,
        nargs="+",
        metavar="RATE",
        help="after the closed loop, updates arriving at RATE a second (Poisson), not waiting for answers",
    )
    parser.add_argument("--seconds", type=float, default=20, help="how long each open-loop rate runs")
    parser.add_argument(
        "--keep-profile",
        metavar="PREFIX",
        help="with --profile: keep the raw profile as PREFIX.<system>.pstats",
    )
    parser.add_argument("--serve", choices=list(SYSTEMS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        from bot.logs import configure_logging

        configure_logging("WARNING")
        asyncio.run(serve(args))
        return
    if args.quick:
        args.students, args.messages, args.warmup = 10, 3, 2
    try:
        results = asyncio.run(bench(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: bot processes stopped, benchmark databases dropped", file=sys.stderr)
        raise SystemExit(130) from None
    report(results, args)


if __name__ == "__main__":
    main()
