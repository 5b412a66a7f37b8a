"""Counselor console and JSON API under 50 concurrent counselors, on PostgreSQL and SQLite.

    .venv/bin/python bench/console.py [--db sqlite|postgresql|both] [--seconds 30] [--counselors 50]
        [--students 2000] [--cases 300] [--urgent 30]

Prints numbers; asserts nothing. For each database: a fresh database is seeded through the app's own
code paths (`App.handle` with Vietnamese scam and crisis messages, the «talk to a counselor» button,
`App.set_counselor_password` and `App.add_counselor_token`), then `notalone serve` runs as a child
process on it. This process holds the counselors, one httpx client (own cookies, own connection) each:
every counselor logs in once (no wrong password, so the lockout never trips), claims one case through
the API, then loops for --seconds without think time: the queue page, a random open case's page,
GET /api/cases and GET /api/cases/{id} of a random open case.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

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

if TYPE_CHECKING:
    from handlers.ports import Classifier

CACHE = ROOT / "data" / "nlu-cache"  # shared with bench/e2e.py; /data/ is ignored by git
KEY = "bench-console-pseudonym-key-" + "k" * 16
SEED_CONCURRENCY = 8
LOGIN = "POST /console/login"
CLAIM = "POST /api/cases/{id}/claim"
QUEUE = "GET /console/ (queue)"
CASE_PAGE = "GET /console/cases/{id}"
API_LIST = "GET /api/cases"
API_CASE = "GET /api/cases/{id}"
LOOP = (QUEUE, CASE_PAGE, API_LIST, API_CASE)
COST_CLIENTS = 4
COST_REQUESTS = 200


# Seeding, in this process, through the app's real code paths ---------------------------------------
@dataclass
class Seeded:
    case_ids: list[int]
    urgent: int
    transcript_mean: float
    students: int
    turns: int
    seconds: float
    logins: dict[str, str] = field(default_factory=dict)  # name -> password
    tokens: dict[str, str] = field(default_factory=dict)  # name -> API token


async def student_plans(
    students: int, cases: int, urgent: int, classifier: Classifier
) -> list[list[str | None]]:
    """What each student sends (None: the «talk to a counselor» button). The first `urgent` students
    send a crisis message (it opens an urgent case by itself), the next ones two scam messages and the
    button; everyone else one message, a greeting or a scam. Texts the classifier takes for a crisis are
    left out of those (each would open an urgent case; greetings were once among them)."""
    from nlu.data import DEV_DIR, load_examples

    dev = load_examples(DEV_DIR)
    scams = [e.text for e in dev if e.tactics and not e.crisis]
    scams = [t for t in scams if not (await classifier.analyze(t)).crisis]
    greetings = [t for t in GREETINGS if not (await classifier.analyze(t)).crisis]
    crises = [e.text for e in dev if e.crisis]
    crises = [t for t in crises if (await classifier.analyze(t)).crisis]
    plans: list[list[str | None]] = []
    for s in range(students):
        if s < urgent:
            plans.append([scams[s % len(scams)], crises[s % len(crises)]])
        elif s < cases:
            plans.append([scams[(2 * s) % len(scams)], scams[(2 * s + 1) % len(scams)], None])
        else:
            plans.append([greetings[s % len(greetings)] if s % 2 else scams[s % len(scams)]])
    return plans


async def seed(config: Path, args: argparse.Namespace) -> Seeded:
    """Students chat with the bot and open cases; counselors get a password and an API token."""
    from sqlalchemy import func, select

    from bot.main import build_app
    from bot.settings import load_settings
    from counselor.auth import new_token, token_hash
    from counselor.console import hash_password
    from handlers.models import Channel, Incoming, MessageKind
    from storage.models import CaseRow, MessageRow

    started = time.perf_counter()
    app = await build_app(load_settings(config, privacy={"pseudonym_key": KEY}))
    try:
        gate = asyncio.Semaphore(SEED_CONCURRENCY)
        turns = 0

        async def chat(number: int, plan: list[str | None]) -> None:
            nonlocal turns
            user = str(700_000_000 + number)
            async with gate:
                for text in plan:
                    kind = MessageKind.ACTION if text is None else MessageKind.TEXT
                    action = "talk_to_counselor" if text is None else None
                    await app.handle(
                        Incoming(
                            channel=Channel.TELEGRAM,
                            platform_user_id=user,
                            chat_id=user,
                            kind=kind,
                            text=text,
                            action=action,
                        )
                    )
                    turns += 1

        plans = await student_plans(args.students, args.cases, args.urgent, app.core.classifier)
        await asyncio.gather(*(chat(n, plan) for n, plan in enumerate(plans)))
        logins = {
            f"tvv{c:02d}": f"mat-khau-tvv{c:02d}-{secrets.token_hex(4)}" for c in range(args.counselors)
        }
        tokens = {name: new_token() for name in logins}
        hashing = asyncio.Semaphore(os.cpu_count() or 1)  # argon2: 64 MiB and ~0.1-0.3 s of CPU each

        async def counselor(name: str) -> None:
            async with hashing:
                hashed = await asyncio.to_thread(hash_password, logins[name])
            await app.set_counselor_password(name, "counselor", hashed)
            await app.add_counselor_token(name, "counselor", token_hash(tokens[name]))

        await asyncio.gather(*(counselor(name) for name in logins))
        async with app.sessions() as session:
            open_cases = (
                await session.execute(
                    select(CaseRow.id, CaseRow.priority, CaseRow.conversation_id).where(
                        CaseRow.status.in_(("waiting", "claimed"))
                    )
                )
            ).all()
            conversations = [row.conversation_id for row in open_cases]
            counts = (
                await session.execute(
                    select(func.count(MessageRow.id))
                    .where(MessageRow.conversation_id.in_(conversations))
                    .group_by(MessageRow.conversation_id)
                )
            ).scalars()
            lengths = list(counts)
    finally:
        await app.close()
    return Seeded(
        case_ids=sorted(row.id for row in open_cases),
        urgent=sum(1 for row in open_cases if row.priority == "urgent"),
        transcript_mean=statistics.mean(lengths) if lengths else 0.0,
        students=args.students,
        turns=turns,
        seconds=time.perf_counter() - started,
        logins=logins,
        tokens=tokens,
    )


# The server process ---------------------------------------------------------------------------------
def postgres_cpu_seconds() -> float:
    """CPU time of all local PostgreSQL processes (the server runs on this machine)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if comm.read_text().strip() == "postgres":
                total += cpu_seconds(int(comm.parent.name))
    return total


def machine_ticks() -> tuple[int, int]:
    """Busy and total CPU ticks of the whole machine so far (/proc/stat; idle and iowait are not busy)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])  # guest time is already counted in user
    return total - values[3] - values[4], total


def write_config(workdir: Path, db_url: str | None) -> Path:
    """A config.yaml for this run: its own data directory, the cached NLU model, http cookies."""
    lines = ["storage:", "  data_dir: data"]
    if db_url is not None:
        lines.append(f"  url: {db_url}")
    lines += ["nlu:", "  backend: embedded", f"  cache_dir: {CACHE}"]
    lines += ["images:", "  enabled: false"]
    # The console runs on http://127.0.0.1 here: a Secure cookie would never be sent back.
    lines += ["console:", "  secure_cookies: false"]
    config = workdir / "config.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


@asynccontextmanager
async def server(config: Path, log: Path) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """`notalone serve` on a free port, ready; stopped with SIGTERM (killed if it hangs)."""
    script = Path(sys.executable).with_name("notalone")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    port = free_port()
    command += ["--config", str(config), "--log-level", "WARNING", "serve", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
    env |= {"NOTALONE_PRIVACY__PSEUDONYM_KEY": KEY, "PYTHONUNBUFFERED": "1"}
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=config.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            await wait_ready(process, base_url, log)
            yield process, base_url
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + 30
                while process.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            if process.poll() is None:
                process.kill()
                process.wait()


async def wait_ready(
    process: subprocess.Popen[bytes], base_url: str, log: Path, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base_url) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"notalone serve exited with {process.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit(f"notalone serve did not become ready within {timeout:.0f}s (log: {log})")


# The counselors -------------------------------------------------------------------------------------
@dataclass
class Timings:
    requests: Counter[str] = field(default_factory=Counter)  # by endpoint, answered or not
    latencies: dict[str, list[float]] = field(default_factory=lambda: {})  # of answered requests
    errors: Counter[str] = field(default_factory=Counter)  # "endpoint: kind"

    async def timed(
        self, endpoint: str, call: Awaitable[httpx.Response], ok: Callable[[httpx.Response], bool]
    ) -> httpx.Response | None:
        """Await one request; note its latency (ms) and, when `ok` refuses it, the status as an error."""
        self.requests[endpoint] += 1
        started = time.perf_counter()
        try:
            response = await call
        except httpx.HTTPError as exc:
            self.errors[f"{endpoint}: {type(exc).__name__}"] += 1
            return None
        self.latencies.setdefault(endpoint, []).append((time.perf_counter() - started) * 1000)
        if not ok(response):
            where = response.headers.get("location", "")
            self.errors[f"{endpoint}: {response.status_code}{' -> ' + where if where else ''}"] += 1
        return response


def success(response: httpx.Response) -> bool:
    return response.is_success


def logged_in(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers.get("location") == "/console/"


@dataclass
class CounselorClient:
    name: str
    password: str
    token: str
    client: httpx.AsyncClient
    rng: random.Random

    async def login(self, timings: Timings) -> None:
        """One login with the right password: the lockout counts only wrong ones."""
        form = {"name": self.name, "password": self.password}
        await timings.timed(LOGIN, self.client.post("/console/login", data=form), logged_in)

    async def claim(self, case_id: int, timings: Timings) -> None:
        call = self.client.post(f"/api/cases/{case_id}/claim", headers=self.bearer)
        await timings.timed(CLAIM, call, success)

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(self, endpoint: str, case_ids: list[int]) -> Awaitable[httpx.Response]:
        """One request of the timed loop; a case endpoint gets a random open case."""
        if endpoint == QUEUE:
            return self.client.get("/console/")
        if endpoint == CASE_PAGE:
            return self.client.get(f"/console/cases/{self.rng.choice(case_ids)}")
        if endpoint == API_LIST:
            return self.client.get("/api/cases", headers=self.bearer)
        return self.client.get(f"/api/cases/{self.rng.choice(case_ids)}", headers=self.bearer)

    async def work(
        self,
        case_ids: list[int],
        deadline: float,
        timings: Timings,
        endpoints: tuple[str, ...] = LOOP,
        at_most: int | None = None,
    ) -> None:
        """The endpoints in turn, again and again until the deadline (or `at_most` requests); no think
        time."""
        done = 0
        while True:
            for endpoint in endpoints:
                if time.perf_counter() >= deadline or (at_most is not None and done >= at_most):
                    return
                await timings.timed(endpoint, self.request(endpoint, case_ids), success)
                done += 1


async def cpu_per_request(
    pid: int, counselors: list[CounselorClient], case_ids: list[int], requests: int
) -> dict[str, float]:
    """Server CPU ms per request of each endpoint alone (CPU time, so other processes on the machine
    do not change it much): a few counselors send `requests` of it."""
    few = counselors[:COST_CLIENTS]
    costs: dict[str, float] = {}
    for endpoint in LOOP:
        timings = Timings()
        before = cpu_seconds(pid)
        await asyncio.gather(
            *(c.work(case_ids, math.inf, timings, (endpoint,), at_most=requests // len(few)) for c in few)
        )
        costs[endpoint] = (cpu_seconds(pid) - before) * 1000 / max(1, timings.requests[endpoint])
    return costs


@dataclass
class Result:
    db: str
    seeded: Seeded
    setup: Timings
    load: Timings
    login_wall_s: float
    wall_s: float
    cpu_ms: dict[str, float]  # server CPU per request, each endpoint alone
    shown: tuple[int, int]  # cases on the queue page, cases in GET /api/cases
    rss_before_mb: float
    rss_loop_peak_mb: float
    rss_lifetime_peak_mb: float
    server_cpu_s: float
    driver_cpu_s: float
    postgres_cpu_s: float | None
    machine_busy_cores: float  # everything on the machine, other users' processes included
    log_problems: Counter[str]


async def shown_cases(counselor: CounselorClient) -> tuple[int, int]:
    """How many cases the queue page lists, and how many GET /api/cases returns."""
    page = await counselor.client.get("/console/")
    listed = await counselor.client.get("/api/cases", headers=counselor.bearer)
    return page.text.count('<a href="/console/cases/'), len(listed.json())


async def sample_rss(pid: int, peak: list[float]) -> None:
    while True:
        with contextlib.suppress(OSError):
            peak[0] = max(peak[0], proc_status(pid))
        await asyncio.sleep(0.25)


async def run_db(db: str, args: argparse.Namespace) -> Result:
    """One database from scratch: create, seed, serve, log in, claim, then the timed loop."""
    with tempfile.TemporaryDirectory(prefix=f"bench-console-{db}-") as tmp:
        workdir = Path(tmp)
        async with contextlib.AsyncExitStack() as stack:
            db_url = (
                await stack.enter_async_context(postgres_database("bench_console"))
                if db == "postgresql"
                else None
            )
            config = write_config(workdir, db_url)
            print(f"{db}: seeding ...", file=sys.stderr, flush=True)
            seeded = await seed(config, args)
            print(
                f"{db}: seeded {seeded.students} students, {seeded.turns} turns, {len(seeded.case_ids)} open "
                f"cases in {seeded.seconds:.0f}s; load for {args.seconds:.0f}s ...",
                file=sys.stderr,
                flush=True,
            )
            process, base_url = await stack.enter_async_context(server(config, workdir / "serve.log"))
            timeout = httpx.Timeout(60.0)
            counselors = [
                CounselorClient(
                    name,
                    seeded.logins[name],
                    seeded.tokens[name],
                    await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=timeout)),
                    random.Random(n),
                )
                for n, name in enumerate(sorted(seeded.logins))
            ]
            setup, load = Timings(), Timings()
            started, server_before = time.perf_counter(), cpu_seconds(process.pid)
            await asyncio.gather(*(c.login(setup) for c in counselors))
            login_wall = time.perf_counter() - started
            costs = {LOGIN: (cpu_seconds(process.pid) - server_before) * 1000 / len(counselors)}
            claimable = random.Random(0).sample(seeded.case_ids, min(len(counselors), len(seeded.case_ids)))
            await asyncio.gather(
                *(c.claim(case, setup) for c, case in zip(counselors, claimable, strict=False))
            )
            warm = Timings()  # one untimed second: Jinja compiles its templates, the pools fill
            await asyncio.gather(
                *(c.work(seeded.case_ids, time.perf_counter() + 1, warm) for c in counselors)
            )
            shown = await shown_cases(counselors[0])
            peak = [proc_status(process.pid)]
            rss_before = peak[0]
            sampler = asyncio.create_task(sample_rss(process.pid, peak))
            server_before, own_before = cpu_seconds(process.pid), own_cpu_seconds()
            pg_before = postgres_cpu_seconds() if db == "postgresql" else None
            busy_before, ticks_before = machine_ticks()
            started = time.perf_counter()
            deadline = started + args.seconds
            await asyncio.gather(*(c.work(seeded.case_ids, deadline, load) for c in counselors))
            wall = time.perf_counter() - started
            server_cpu = cpu_seconds(process.pid) - server_before
            driver_cpu = own_cpu_seconds() - own_before
            pg_cpu = postgres_cpu_seconds() - pg_before if pg_before is not None else None
            busy_after, ticks_after = machine_ticks()
            busy_cores = (
                (os.cpu_count() or 1) * (busy_after - busy_before) / max(1, ticks_after - ticks_before)
            )
            sampler.cancel()
            lifetime_peak = proc_status(process.pid, "VmHWM")
            costs |= await cpu_per_request(process.pid, counselors, seeded.case_ids, COST_REQUESTS)
        problems = log_problems(workdir / "serve.log")
    return Result(
        db=db,
        seeded=seeded,
        setup=setup,
        load=load,
        login_wall_s=login_wall,
        wall_s=wall,
        cpu_ms=costs,
        shown=shown,
        rss_before_mb=rss_before,
        rss_loop_peak_mb=peak[0],
        rss_lifetime_peak_mb=lifetime_peak,
        server_cpu_s=server_cpu,
        driver_cpu_s=driver_cpu,
        postgres_cpu_s=pg_cpu,
        machine_busy_cores=busy_cores,
        log_problems=problems,
    )


def log_problems(path: Path) -> Counter[str]:
    """Warning and error lines of the server's log, counted by their first 100 characters."""
    found: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        lowered = line.lower()
        if any(f'"level": "{level}"' in lowered for level in ("warning", "error", "critical")):
            found[line[:100]] += 1
        elif line.startswith(("Traceback", "ERROR", "WARNING")):
            found[line[:100]] += 1
    return found


# Report ---------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def error_count(timings: Timings, endpoint: str) -> int:
    return sum(n for kind, n in timings.errors.items() if kind.startswith(endpoint + ":"))


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"counselors={args.counselors} seconds={args.seconds:.0f} cores={os.cpu_count()} "
        "(closed loop, no think time; the load generator runs on the same cores)"
    )
    header = f"{'db':<11}{'endpoint':<27}{'requests':>9}{'req/s':>8}{'median ms':>11}{'p95 ms':>9}"
    header += f"{'p99 ms':>9}{'errors':>8}{'CPU ms':>8}"
    for r in results:
        s = r.seeded
        print(
            f"\n{r.db}: {s.students} students, {s.turns} turns, {len(s.case_ids)} open cases "
            f"({s.urgent} urgent, {len(r.setup.latencies.get(CLAIM, []))} claimed by the counselors), "
            f"{s.transcript_mean:.1f} messages per case transcript; seeding took {s.seconds:.0f}s"
        )
        print(header)
        print("-" * len(header))
        rows = [(e, r.login_wall_s, r.setup) for e in (LOGIN,)] + [(e, r.wall_s, r.load) for e in LOOP]
        for endpoint, wall, timings in rows:
            lat = timings.latencies.get(endpoint, [])
            errors = error_count(timings, endpoint)
            count = timings.requests[endpoint]
            rate = count / wall if wall > 0 else 0.0
            median = statistics.median(lat) if lat else float("nan")
            print(
                f"{r.db:<11}{endpoint:<27}{count:>9}{rate:>8.1f}{median:>11.1f}{pct(lat, 0.95):>9.1f}"
                f"{pct(lat, 0.99):>9.1f}{errors:>8}{r.cpu_ms.get(endpoint, float('nan')):>8.1f}"
            )
        total = sum(r.load.requests[e] for e in LOOP)
        print(
            f"{r.db:<11}{'all four (timed loop)':<27}{total:>9}{total / r.wall_s:>8.1f}"
            f"   wall {r.wall_s:.1f}s; logins: {r.login_wall_s:.2f}s for {args.counselors}"
        )
        print(
            "(CPU ms: the server's CPU time per request, each endpoint alone after the loop; a login: "
            f"during the logins) queue page lists {r.shown[0]} cases, GET /api/cases returns {r.shown[1]}"
        )
        ours = r.server_cpu_s + r.driver_cpu_s + (r.postgres_cpu_s or 0.0)
        others = max(0.0, r.machine_busy_cores - ours / r.wall_s)
        pg = f", postgres {r.postgres_cpu_s / r.wall_s:.0%}" if r.postgres_cpu_s is not None else ""
        per_request = r.server_cpu_s * 1000 / total if total else float("nan")
        print(
            f"CPU over the timed loop (100% = one core of {os.cpu_count()}): server "
            f"{r.server_cpu_s / r.wall_s:.0%} ({per_request:.1f} ms per request), load generator "
            f"{r.driver_cpu_s / r.wall_s:.0%} ({r.driver_cpu_s:.1f}s){pg}; whole machine "
            f"{r.machine_busy_cores:.0%}, of which other processes {others:.0%}"
        )
        print(
            f"server RSS: {r.rss_before_mb:.0f} MB before the timed loop, peak {r.rss_loop_peak_mb:.0f} MB "
            f"during it, {r.rss_lifetime_peak_mb:.0f} MB since start (VmHWM, logins included)"
        )
        for kind, n in sorted({**r.setup.errors, **r.load.errors}.items()):
            print(f"  error: {n} x {kind}")
        for line, n in r.log_problems.most_common(5):
            print(f"  server log: {n} x {line}")


async def bench(args: argparse.Namespace) -> list[Result]:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    from nlu.embedded import load_or_train

    load_or_train(CACHE)  # trained and cached once, before anything is timed
    databases = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    return [await run_db(db, args) for db in databases]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the timed loop (default 30)")
    parser.add_argument("--counselors", type=int, default=50, help="concurrent counselors (default 50)")
    parser.add_argument("--students", type=int, default=2000, help="students seeded (default 2000)")
    parser.add_argument("--cases", type=int, default=300, help="students who open a case (default 300)")
    parser.add_argument("--urgent", type=int, default=30, help="of those, with a crisis message (default 30)")
    args = parser.parse_args()
    if not 0 <= args.urgent <= args.cases <= args.students:
        parser.error("need 0 <= --urgent <= --cases <= --students")
    from bot.logs import configure_logging

    configure_logging("WARNING")
    try:
        results = asyncio.run(bench(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: server stopped, benchmark database dropped", file=sys.stderr)
        raise SystemExit(130) from None
    report(results, args)


if __name__ == "__main__":
    main()
