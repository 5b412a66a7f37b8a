"""The counselors' web console: login, the live queue, the case page (transcript, evidence, reply,
notes, resolve) and, for supervisors, the audit log. Server-rendered, no CDN, works offline."""

from __future__ import annotations

import asyncio
import functools
import hmac
import html
import json
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.ext.asyncio import async_sessionmaker

from counselor.audit import record
from counselor.auth import token_hash
from counselor.headers import CONSOLE_CSP, add_security_headers, same_origin_posts
from counselor.params import CaseId, Text
from handlers.handoff import (
    EscalationPolicy,
    HandoffError,
    assess_risk,
    claim_case,
    post_counselor_reply,
    release_case,
    reopen_case,
    resolve_case,
    transfer_case,
)
from handlers.models import (
    Answer,
    CaseOutcome,
    CasePriority,
    CaseStatus,
    Counselor,
    Place,
    Referral,
    RiskAssessment,
    SelfHarm,
    StoredMessage,
    Tactic,
)
from handlers.ports import GuidanceLibrary, UnitOfWork
from handlers.waves import WINDOW as WAVE_WINDOW
from storage.console import ConsoleStore, Throttle
from storage.fingerprints import SqlAlchemyFingerprintRepository
from storage.queries import queue_details, search_cases, stats

log = logging.getLogger(__name__)
COOKIE = "notalone_console"
HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
# The counselors' words for every internal value a page shows (counselor/labels.yml).
LABELS: dict[str, dict[str, str]] = yaml.safe_load((HERE / "labels.yml").read_text(encoding="utf-8"))
# The first words of a student's latest message on a queue row.
PREVIEW_CHARS = 90
# The live queue looks for changes this often, and says it is still there at least this often.
EVENTS_EVERY_S = 2.0
KEEPALIVE_S = 20.0


# The risk checklist's questions, each with the kind of its answers (their words in labels.yml).
RISK_QUESTIONS = (
    ("safe_now", "answer", list(Answer)),
    ("place", "place", list(Place)),
    ("with_adult", "answer", list(Answer)),
    ("self_harm", "self_harm", list(SelfHarm)),
    ("deadline", "answer", list(Answer)),
    ("evidence_kept", "answer", list(Answer)),
)


def vi(value: Any, kind: str) -> str:
    """What a counselor reads for an internal value (a status, an outcome, a tactic…): never the
    value itself; an unknown one reads "other"."""
    return LABELS[kind].get(str(getattr(value, "value", value)), LABELS["other"]["value"])


def preview(text: str | None) -> str:
    """The start of a message, cut at a word, for one line of the queue."""
    if not text:
        return LABELS["other"]["no_text"]
    flat = " ".join(text.split())
    if len(flat) <= PREVIEW_CHARS:
        return flat
    return flat[:PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"


def first_line(text: str | None) -> tuple[str, str]:
    """A bot turn's first line, and the rest (shown folded)."""
    head, _, rest = (text or "").strip().partition("\n")
    return head, rest.strip()


TEMPLATES.env.filters["vi"] = vi
TEMPLATES.env.filters["preview"] = preview
TEMPLATES.env.filters["first_line"] = first_line
HASHER = PasswordHasher()
# Rows of each kind (waiting, claimed) on the queue page; more are counted under them.
QUEUE_ROWS = 200
MAX_NOTE = 4000
# Wrong passwords: five free tries per client address and per name, then waits doubling from one
# second. An address waits up to 15 minutes; a name, which anyone can type, at most 30 seconds, so an
# outsider can slow a counselor's logins down but never lock them out. Names that do not exist are
# throttled the same way: the answer never tells whether a name exists.
ADDRESS_THROTTLE = Throttle(free=5, cap=timedelta(minutes=15))
NAME_THROTTLE = Throttle(free=5, cap=timedelta(seconds=30))


@dataclass(frozen=True)
class ConsoleDeps:
    uow: Callable[[], UnitOfWork]
    sessions: async_sessionmaker[Any]
    library: GuidanceLibrary
    clock: Callable[[], datetime]
    secure_cookies: bool = True
    session_ttl: timedelta = timedelta(hours=8)
    escalation: EscalationPolicy = EscalationPolicy()
    max_sessions: int = 5
    # Shows the student that a counselor is typing (the channel's "typing…"); None: no channel can.
    typing: Callable[[str], Awaitable[None]] | None = None


class LoginRequired(Exception):
    """No live session: the browser is sent to the login page."""


def hash_password(password: str) -> str:
    return HASHER.hash(password)


@functools.cache
def dummy_hash() -> str:
    """A hash to check unknown names against (made once, when first needed)."""
    return HASHER.hash(secrets.token_urlsafe(16))


# argon2 takes ~0.2 s of CPU and 64 MiB per check: checks run in threads, two at a time, so a burst
# of logins neither stalls the event loop (webhooks, other counselors) nor eats the memory.
_CHECKS = threading.BoundedSemaphore(2)


def _check(password_hash: str, password: str) -> bool:
    with _CHECKS:
        try:
            return HASHER.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


async def verify(password_hash: str, password: str) -> bool:
    """Whether the password matches, checked off the event loop."""
    return await asyncio.to_thread(_check, password_hash, password)


def throttle_keys(name: str, address: str) -> dict[str, Throttle]:
    """The login throttle's keys: the client address and the name typed, hashed (a name typed may be
    a password typed in the wrong box)."""
    return {
        f"addr:{token_hash(address)}": ADDRESS_THROTTLE,
        f"name:{token_hash(name.casefold())}": NAME_THROTTLE,
    }


def client_address(request: Request) -> str:
    """The client's address (behind a proxy on 127.0.0.1, uvicorn reads it from X-Forwarded-For)."""
    return request.client.host if request.client else "unknown"


def highlighted(message: StoredMessage) -> Markup:
    """The message text, escaped, with the NLU's evidence spans marked by tactic."""
    text = message.text or ""
    spans = sorted(
        {(e.start, e.end, e.tactic) for e in (message.analysis.evidence if message.analysis else ())},
        key=lambda s: (s[0], -s[1]),
    )
    out, pos = [], 0
    for start, end, tactic in spans:
        if start < pos or end > len(text):
            continue  # overlapping or stale span: leave the text as it is
        out.append(html.escape(text[pos:start]))
        label = html.escape(tactic)
        title = html.escape(vi(tactic, "tactic"))
        out.append(f'<mark class="{label}" title="{title}">{html.escape(text[start:end])}</mark>')
        pos = end
    out.append(html.escape(text[pos:]))
    return Markup("".join(out))  # noqa: S704 - every piece above is html.escape()d


async def who(request: Request) -> tuple[Counselor, str]:
    """The logged-in counselor and their CSRF token; LoginRequired sends the browser to the login page."""
    deps: ConsoleDeps = request.app.state.deps
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired
    async with deps.sessions() as session:
        found = await ConsoleStore(session).session_for(token_hash(token), deps.clock())
    if found is None:
        raise LoginRequired
    return found


Who = Annotated[tuple[Counselor, str], Depends(who)]


def create_console(deps: ConsoleDeps) -> FastAPI:
    """The console as its own app (mounted at /console)."""
    console = FastAPI(title="notalone console", docs_url=None, redoc_url=None, openapi_url=None)
    console.state.deps = deps
    console.mount("/static", StaticFiles(directory=Path(__file__).resolve().parent / "static"), name="static")
    same_origin_posts(console)
    add_security_headers(console, CONSOLE_CSP)

    def action_label(action: str) -> str:
        """The button a student tapped, by its label (an action without one reads "other")."""
        try:
            return deps.library.label(action)
        except KeyError:
            return LABELS["other"]["action"]

    @console.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/console/login", status_code=303)

    def check_csrf(given: str, expected: str) -> None:
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(403, "CSRF token missing or wrong")

    async def audit(counselor: Counselor, case_id: int | None, action: str) -> None:
        await record(deps.sessions, counselor.id, case_id, action, deps.clock(), via="console")

    @console.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, error: str = "") -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"error": error})

    @console.post("/login")
    async def login(
        request: Request, name: Annotated[Text, Form()], password: Annotated[str, Form()]
    ) -> Response:
        now, address = deps.clock(), client_address(request)
        name = name.strip()[:64]
        keys = throttle_keys(name, address)
        async with deps.sessions() as session:
            store = ConsoleStore(session)
            found = await store.login(name)
            if await store.blocked(list(keys), now):
                # No password check while waiting: the same quick answer for any name, real or not,
                # and nothing written (a flood of tries must not grow the database).
                return RedirectResponse("/console/login?error=wait", status_code=303)
            # An unknown name costs the same check as a known one: the timing tells nothing.
            ok = await verify(
                found.password_hash if found and found.password_hash else dummy_hash(), password
            )
            if found is None or not found.password_hash or not ok:
                await store.failed(keys, now)
                who_id = found.counselor.id if found else None
                await store.audit(who_id, None, "login_failed", now, via="console", address=address)
                await session.commit()
                return RedirectResponse("/console/login?error=wrong", status_code=303)
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            await store.succeeded(list(keys))
            await store.open_session(
                token_hash(token), found.counselor.id, csrf, now, deps.session_ttl, deps.max_sessions
            )
            await store.audit(found.counselor.id, None, "login", now, via="console", address=address)
            await session.commit()
        response = RedirectResponse("/console/", status_code=303)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            secure=deps.secure_cookies,
            samesite="strict",
            max_age=int(deps.session_ttl.total_seconds()),
            path="/console",
        )
        return response

    @console.post("/logout")
    async def logout(request: Request, me: Who, csrf: Annotated[str, Form()] = "") -> Response:
        check_csrf(csrf, me[1])
        async with deps.sessions() as session:
            store = ConsoleStore(session)
            await store.close_session(token_hash(request.cookies.get(COOKIE, "")))
            await store.audit(me[0].id, None, "logout", deps.clock(), via="console")
            await session.commit()
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path="/console")
        return response

    async def queue_cases(me: Counselor) -> dict[str, Any]:
        """The queue's cases with each one's details, and how many more there are than it shows."""
        async with deps.uow() as work:
            waiting = await work.cases.listed(CaseStatus.WAITING, QUEUE_ROWS)
            claimed = await work.cases.listed(CaseStatus.CLAIMED, QUEUE_ROWS)
            hidden = 0
            if len(waiting) == QUEUE_ROWS or len(claimed) == QUEUE_ROWS:
                total = await work.cases.count(CaseStatus.WAITING) + await work.cases.count(
                    CaseStatus.CLAIMED
                )
                hidden = total - len(waiting) - len(claimed)
            follow_ups = await work.cases.follow_ups_due(deps.clock().date())
        cases = [*waiting, *claimed]
        async with deps.sessions() as session:
            details = await queue_details(session, [c.id for c in cases], me.id)
        return {
            "cases": cases,
            "details": details,
            "hidden": hidden,
            "follow_ups": follow_ups,
            "now": deps.clock(),
        }

    @console.get("/", response_class=HTMLResponse)
    async def queue(request: Request, me: Who) -> Response:
        rows = await queue_cases(me[0])
        return TEMPLATES.TemplateResponse(request, "queue.html", {"me": me[0], "csrf": me[1], **rows})

    @console.get("/queue/events")
    async def queue_events(request: Request, me: Who) -> Response:
        """The queue, live (Server-Sent Events): its rows whenever they change, with how many cases
        wait and which urgent cases are new since the page opened. The session is checked on every
        round: a logged-out or revoked counselor stops receiving at once."""

        async def events() -> AsyncIterator[str]:
            last, quiet = "", 0.0
            seen: set[int] | None = None
            while not await request.is_disconnected():
                try:
                    await who(request)
                except LoginRequired:
                    yield "event: logout\ndata: {}\n\n"
                    return
                rows = await queue_cases(me[0])
                page = TEMPLATES.get_template("queue_rows.html").render(me=me[0], **rows)
                urgent = {c.id for c in rows["cases"] if c.priority is CasePriority.URGENT}
                if page != last:
                    waiting = sum(c.status is CaseStatus.WAITING for c in rows["cases"]) + rows["hidden"]
                    new: list[int] = sorted(urgent - seen) if seen is not None else []
                    data = {"rows": page, "waiting": waiting, "urgent_new": new}
                    yield f"event: queue\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                    last, quiet = page, 0.0
                elif quiet >= KEEPALIVE_S:
                    yield ": still here\n\n"  # a comment: keeps proxies from closing the stream
                    quiet = 0.0
                seen = urgent | (seen or set())
                await asyncio.sleep(EVENTS_EVERY_S)
                quiet += EVENTS_EVERY_S

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @console.get("/queue/rows", response_class=HTMLResponse)
    async def queue_rows(request: Request, me: Who) -> Response:
        """The queue's rows alone, polled by the page every few seconds."""
        rows = await queue_cases(me[0])
        return TEMPLATES.TemplateResponse(request, "queue_rows.html", {"me": me[0], **rows})

    @console.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request, case_id: CaseId, me: Who, error: str = "") -> Response:
        async with deps.uow() as work:
            case = await work.cases.get(case_id)
            if case is None:
                raise HTTPException(404, "no such case")
            messages = await work.messages.list_for(case.conversation_id)
        async with deps.sessions() as session:
            if messages:
                await ConsoleStore(session).mark_read(case_id, me[0].id, messages[-1].id, deps.clock())
                await session.commit()
            notes = await ConsoleStore(session).notes(case_id)
            corrected = await ConsoleStore(session).relabels(case.conversation_id)
            colleagues = [n for n in await ConsoleStore(session).colleagues() if n != me[0].name]
        await audit(me[0], case_id, "open")
        return TEMPLATES.TemplateResponse(
            request,
            "case.html",
            {
                "me": me[0],
                "csrf": me[1],
                "case": case,
                "messages": messages,
                "notes": notes,
                "error": error,
                "outcomes": list(CaseOutcome),
                "highlighted": highlighted,
                "tactics": list(Tactic),
                "corrected": corrected,
                "canned": deps.library.canned_replies(),
                "scenario_title": deps.library.scenario_title,
                "action_label": action_label,
                "colleagues": colleagues,
                "risk_questions": RISK_QUESTIONS,
                "referrals": list(Referral),
                "tomorrow": deps.clock().date() + timedelta(days=1),
            },
        )

    async def act(
        me: tuple[Counselor, str], csrf: str, case_id: int, action: str, run: Callable[[UnitOfWork], Any]
    ) -> Response:
        check_csrf(csrf, me[1])
        async with deps.uow() as work:
            try:
                await run(work)
            except HandoffError as exc:
                return RedirectResponse(f"/console/cases/{case_id}?error={exc.code}", status_code=303)
            await work.commit()
        await audit(me[0], case_id, action)
        return RedirectResponse(f"/console/cases/{case_id}", status_code=303)

    @console.post("/cases/{case_id}/claim")
    async def claim(case_id: CaseId, me: Who, csrf: Annotated[str, Form()] = "") -> Response:
        return await act(
            me,
            csrf,
            case_id,
            "claim",
            lambda w: claim_case(case_id, me[0], uow=w, lib=deps.library, now=deps.clock()),
        )

    @console.post("/cases/{case_id}/reply")
    async def reply(
        case_id: CaseId, me: Who, text: Annotated[Text, Form()], csrf: Annotated[str, Form()] = ""
    ) -> Response:
        return await act(
            me,
            csrf,
            case_id,
            "reply",
            lambda w: post_counselor_reply(case_id, me[0], text, uow=w, now=deps.clock()),
        )

    @console.post("/cases/{case_id}/reopen")
    async def reopen(case_id: CaseId, me: Who, csrf: Annotated[str, Form()] = "") -> Response:
        """Follow up on a closed case: a new case on the same conversation, claimed by this counselor."""
        check_csrf(csrf, me[1])
        async with deps.uow() as work:
            try:
                case = await reopen_case(
                    case_id, me[0], uow=work, lib=deps.library, policy=deps.escalation, now=deps.clock()
                )
            except HandoffError as exc:
                return RedirectResponse(f"/console/cases/{case_id}?error={exc.code}", status_code=303)
            await work.commit()
        await audit(me[0], case.id, "reopen")
        return RedirectResponse(f"/console/cases/{case.id}", status_code=303)

    @console.post("/cases/{case_id}/release")
    async def release(case_id: CaseId, me: Who, csrf: Annotated[str, Form()] = "") -> Response:
        return await act(
            me,
            csrf,
            case_id,
            "release",
            lambda w: release_case(case_id, me[0], uow=w, lib=deps.library, now=deps.clock()),
        )

    @console.post("/cases/{case_id}/relabel")
    async def relabel(
        case_id: CaseId,
        me: Who,
        message_id: Annotated[int, Form()],
        tactics: Annotated[list[Tactic], Form()] = [],  # noqa: B006 - FastAPI reads the default, never mutates it
        crisis: Annotated[bool, Form()] = False,
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(csrf, me[1])
        async with deps.uow() as work:
            case = await work.cases.get(case_id)
            messages = await work.messages.list_for(case.conversation_id) if case else []
        if not any(m.id == message_id and m.direction.value == "in" for m in messages):
            raise HTTPException(404, "no such message in this case")
        async with deps.sessions() as session:
            await ConsoleStore(session).relabel(
                message_id, me[0].id, [t.value for t in tactics], crisis, deps.clock()
            )
            await session.commit()
        await audit(me[0], case_id, "relabel")
        return RedirectResponse(f"/console/cases/{case_id}", status_code=303)

    @console.post("/cases/{case_id}/resolve")
    async def resolve(
        case_id: CaseId,
        me: Who,
        outcome: Annotated[CaseOutcome, Form()],
        referral: Annotated[Referral, Form()] = Referral.NONE,
        follow_up_on: Annotated[str, Form(max_length=10)] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            day = date.fromisoformat(follow_up_on) if follow_up_on.strip() else None
        except ValueError:
            return RedirectResponse(f"/console/cases/{case_id}?error=bad_date", status_code=303)
        return await act(
            me,
            csrf,
            case_id,
            "resolve",
            lambda w: resolve_case(
                case_id,
                me[0],
                outcome,
                uow=w,
                lib=deps.library,
                now=deps.clock(),
                referral=referral,
                follow_up_on=day,
            ),
        )

    @console.post("/cases/{case_id}/risk")
    async def risk(
        case_id: CaseId,
        me: Who,
        safe_now: Annotated[Answer, Form()] = Answer.UNKNOWN,
        place: Annotated[Place, Form()] = Place.UNKNOWN,
        with_adult: Annotated[Answer, Form()] = Answer.UNKNOWN,
        self_harm: Annotated[SelfHarm, Form()] = SelfHarm.UNKNOWN,
        deadline: Annotated[Answer, Form()] = Answer.UNKNOWN,
        evidence_kept: Annotated[Answer, Form()] = Answer.UNKNOWN,
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        """The risk checklist of a case, as the counselor knows it now."""
        checklist = RiskAssessment(
            safe_now=safe_now,
            place=place,
            with_adult=with_adult,
            self_harm=self_harm,
            deadline=deadline,
            evidence_kept=evidence_kept,
        )
        return await act(me, csrf, case_id, "risk", lambda w: assess_risk(case_id, me[0], checklist, uow=w))

    @console.post("/cases/{case_id}/transfer")
    async def transfer(
        case_id: CaseId,
        me: Who,
        to: Annotated[Text, Form(max_length=64)],
        note: Annotated[Text, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        """Hand a claimed case to a named colleague, with a handover note (kept as a private note)."""
        check_csrf(csrf, me[1])
        async with deps.sessions() as session:
            colleague = await ConsoleStore(session).colleague(to)
        async with deps.uow() as work:
            try:
                await transfer_case(case_id, me[0], colleague, uow=work)
            except HandoffError as exc:
                return RedirectResponse(f"/console/cases/{case_id}?error={exc.code}", status_code=303)
            await work.commit()
        handover = f"Bàn giao cho {to}: {note.strip()}" if note.strip() else f"Bàn giao cho {to}."
        async with deps.sessions() as session:
            await ConsoleStore(session).add_note(case_id, me[0].id, handover[:MAX_NOTE], deps.clock())
            await session.commit()
        await audit(me[0], case_id, "transfer")
        return RedirectResponse(f"/console/cases/{case_id}", status_code=303)

    @console.post("/cases/{case_id}/typing")
    async def typing(case_id: CaseId, me: Who, csrf: Annotated[str, Form()] = "") -> Response:
        """The counselor is typing a reply: the student's chat shows "typing…" (the page calls this at
        most every few seconds while keys are pressed). Only for the counselor who holds the case."""
        check_csrf(csrf, me[1])
        async with deps.uow() as work:
            case = await work.cases.get(case_id)
            if case is None or case.status is not CaseStatus.CLAIMED or case.counselor_id != me[0].id:
                return Response(status_code=409)
            conversation = await work.conversations.by_id(case.conversation_id)
        if deps.typing is not None and conversation is not None:
            try:
                await deps.typing(conversation.user_id)
            except Exception as exc:  # noqa: BLE001 - a courtesy: never an error for the counselor
                log.warning("typing indicator not sent", extra={"error": type(exc).__name__})
        return Response(status_code=204)

    @console.post("/cases/{case_id}/note")
    async def note(
        case_id: CaseId, me: Who, text: Annotated[Text, Form()], csrf: Annotated[str, Form()] = ""
    ) -> Response:
        check_csrf(csrf, me[1])
        body = text.strip()[:MAX_NOTE]
        if body:
            async with deps.uow() as work:
                if await work.cases.get(case_id) is None:
                    raise HTTPException(404, "no such case")
            async with deps.sessions() as session:
                await ConsoleStore(session).add_note(case_id, me[0].id, body, deps.clock())
                await session.commit()
            await audit(me[0], case_id, "note")
        return RedirectResponse(f"/console/cases/{case_id}", status_code=303)

    @console.get("/search", response_class=HTMLResponse)
    async def search(request: Request, me: Who, q: Text = "", status: str = "") -> Response:
        """Past and present cases by number, outcome, or words in their conversation."""
        status = status if status in {s.value for s in CaseStatus} else ""
        async with deps.sessions() as session:
            found = await search_cases(session, q[:200], status or None) if (q.strip() or status) else []
        await audit(me[0], None, "search")
        return TEMPLATES.TemplateResponse(
            request,
            "search.html",
            {
                "me": me[0],
                "csrf": me[1],
                "q": q,
                "status": status,
                "cases": found,
                "statuses": list(CaseStatus),
            },
        )

    @console.get("/stats", response_class=HTMLResponse)
    async def stats_page(request: Request, me: Who) -> Response:
        """The last 14 days: messages and cases per day, tactics, scenarios, 111 taps, reply time."""
        now = deps.clock()
        async with deps.sessions() as session:
            numbers = await stats(session, now)
            waves = await SqlAlchemyFingerprintRepository(session).waves(now - WAVE_WINDOW)
        lib = deps.library
        tactics = [(vi(t, "tactic"), n) for t, n in numbers.tactics.most_common()]
        scenarios = [
            (lib.scenario_title(k) or LABELS["other"]["scenario"], n)
            for k, n in numbers.scenarios.most_common(12)
        ]
        titles = {w.scenario: lib.scenario_title(w.scenario) for w in waves if w.scenario}
        outcomes = [(vi(o, "outcome"), n) for o, n in numbers.outcomes.most_common()]
        referrals = [(vi(r, "referral"), n) for r, n in numbers.referrals.most_common()]
        first_reply = [
            (vi(p, "priority"), round(numbers.first_reply_by_priority[p.value], 1))
            for p in CasePriority
            if p.value in numbers.first_reply_by_priority
        ]
        return TEMPLATES.TemplateResponse(
            request,
            "stats.html",
            {
                "me": me[0],
                "csrf": me[1],
                "s": numbers,
                "waves": waves,
                "tactics": tactics,
                "scenarios": scenarios,
                "titles": titles,
                "outcomes": outcomes,
                "referrals": referrals,
                "first_reply": first_reply,
                "web_opens": numbers.web_opens.most_common(12),
            },
        )

    @console.get("/audit", response_class=HTMLResponse)
    async def audit_page(request: Request, me: Who) -> Response:
        if me[0].role != "supervisor":
            raise HTTPException(403, "supervisors only")
        async with deps.sessions() as session:
            entries = await ConsoleStore(session).audit_log()
        return TEMPLATES.TemplateResponse(
            request, "audit.html", {"me": me[0], "csrf": me[1], "entries": entries}
        )

    return console
