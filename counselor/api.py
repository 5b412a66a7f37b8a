"""JSON API for hotline systems: list cases, read one with its transcript, claim, reply, resolve."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import async_sessionmaker

from counselor.audit import record
from counselor.auth import token_hash
from counselor.headers import NOTHING_CSP, add_security_headers
from counselor.params import CaseId, Offset, Text
from handlers.handoff import HandoffError, assess_risk, claim_case, post_counselor_reply, resolve_case
from handlers.models import Case, CaseOutcome, CaseStatus, Counselor, Referral, RiskAssessment
from handlers.ports import GuidanceLibrary, UnitOfWork

STATUS = {
    "not_found": 404,
    "taken": 409,
    "closed": 409,
    "not_yours": 403,
    "too_long": 413,
    "empty": 422,
    "student_gone": 410,
    "claim_first": 409,
    "student_cancelled": 409,
    "follow_up_past": 422,
    "claim_first_risk": 409,
}


class MessageCreate(BaseModel):
    text: Text = Field(max_length=1_000_000)


class ResolveCreate(BaseModel):
    outcome: CaseOutcome
    referral: Referral | None = None
    # A day after today: the case comes back to the console's queue that day.
    follow_up_on: date | None = None


class TranscriptEntry(BaseModel):
    direction: str
    author: str
    # text, image, sticker, ...; "hidden": the platform hid the message from the bot (no one can read it).
    kind: str = "text"
    text: str | None
    created_at: datetime
    tactics: list[str] = []
    crisis: bool = False
    severity: str = "none"
    evidence: list[dict[str, Any]] = []


class CasePublic(BaseModel):
    id: int
    status: CaseStatus
    priority: str
    opened_by: str
    counselor_id: int | None
    outcome: CaseOutcome | None
    created_at: datetime
    claimed_at: datetime | None
    closed_at: datetime | None
    risk: RiskAssessment | None = None
    referral: Referral | None = None
    follow_up_on: date | None = None


class CaseDetail(CasePublic):
    transcript: list[TranscriptEntry]


async def current_counselor(request: Request) -> Counselor:
    """The counselor behind the request's bearer token (401 without a valid one)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    found = await request.app.state.counselor_by_token(token_hash(token.strip()))
    if not isinstance(found, Counselor):
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    return found


Who = Annotated[Counselor, Depends(current_counselor)]


def public(case: Case) -> CasePublic:
    return CasePublic.model_validate(case.model_dump())


def create_api(
    *,
    uow: Callable[[], UnitOfWork],
    sessions: async_sessionmaker[Any],
    counselor_by_token: Callable[[str], Any],
    library: GuidanceLibrary,
    clock: Callable[[], datetime],
) -> FastAPI:
    """The API as its own app (mounted at /api), with its OpenAPI schema and an offline docs page.
    Every case it shows or changes is in the audit log, as the console's are (via "api")."""
    api = FastAPI(title="notalone counselor API", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    api.state.counselor_by_token = counselor_by_token
    add_security_headers(api, NOTHING_CSP)
    router = APIRouter(prefix="/cases", tags=["cases"])

    async def audit(who: Counselor, case_id: int, action: str) -> None:
        await record(sessions, who.id, case_id, action, clock(), via="api")

    def fail(error: HandoffError) -> HTTPException:
        return HTTPException(STATUS.get(error.code, 400), error.code)

    @router.get("", response_model=list[CasePublic])
    async def list_cases(
        who: Who,
        response: Response,
        status: CaseStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 200,
        offset: Offset = 0,
    ) -> list[CasePublic]:
        """Cases, urgent first, then the longest waiting; `X-Total-Count` tells how many there are."""
        async with uow() as work:
            found = [public(c) for c in await work.cases.listed(status, limit, offset)]
            response.headers["X-Total-Count"] = str(await work.cases.count(status))
            return found

    @router.get("/{case_id}", response_model=CaseDetail)
    async def get_case(case_id: CaseId, who: Who) -> CaseDetail:
        async with uow() as work:
            case = await work.cases.get(case_id)
            if case is None:
                raise HTTPException(404, "not_found")
            messages = await work.messages.list_for(case.conversation_id)
        await audit(who, case_id, "open")
        transcript = [
            TranscriptEntry(
                direction=m.direction.value,
                author=m.author or ("student" if m.direction.value == "in" else "bot"),
                kind=m.kind.value,
                text=m.text,
                created_at=m.created_at,
                tactics=[t.value for t in m.analysis.tactics] if m.analysis else [],
                crisis=bool(m.analysis and m.analysis.crisis),
                severity=m.analysis.severity.value if m.analysis else "none",
                evidence=[e.model_dump() for e in m.analysis.evidence] if m.analysis else [],
            )
            for m in messages
        ]
        return CaseDetail(**public(case).model_dump(), transcript=transcript)

    @router.post("/{case_id}/claim", response_model=CasePublic)
    async def claim(case_id: CaseId, who: Who) -> CasePublic:
        async with uow() as work:
            try:
                case = await claim_case(case_id, who, uow=work, lib=library, now=clock())
            except HandoffError as exc:
                raise fail(exc) from None
            await work.commit()
        await audit(who, case_id, "claim")
        return public(case)

    @router.post("/{case_id}/messages", status_code=202)
    async def message(case_id: CaseId, body: MessageCreate, who: Who) -> dict[str, str]:
        async with uow() as work:
            try:
                await post_counselor_reply(case_id, who, body.text, uow=work, now=clock())
            except HandoffError as exc:
                raise fail(exc) from None
            await work.commit()
        await audit(who, case_id, "reply")
        return {"status": "queued"}

    @router.post("/{case_id}/resolve", response_model=CasePublic)
    async def resolve(case_id: CaseId, body: ResolveCreate, who: Who) -> CasePublic:
        async with uow() as work:
            try:
                await resolve_case(
                    case_id,
                    who,
                    body.outcome,
                    uow=work,
                    lib=library,
                    now=clock(),
                    referral=body.referral,
                    follow_up_on=body.follow_up_on,
                )
            except HandoffError as exc:
                raise fail(exc) from None
            case = await work.cases.get(case_id)
            await work.commit()
        assert case is not None
        await audit(who, case_id, "resolve")
        return public(case)

    @router.put("/{case_id}/risk", response_model=CasePublic)
    async def risk(case_id: CaseId, body: RiskAssessment, who: Who) -> CasePublic:
        """The case's risk checklist, as its counselor knows it now."""
        async with uow() as work:
            try:
                await assess_risk(case_id, who, body, uow=work)
            except HandoffError as exc:
                raise fail(exc) from None
            case = await work.cases.get(case_id)
            await work.commit()
        assert case is not None
        await audit(who, case_id, "risk")
        return public(case)

    api.include_router(router)

    @api.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> str:
        """The endpoints, rendered from the OpenAPI schema on the server (no CDN, works offline)."""
        rows = []
        for path, methods in api.openapi()["paths"].items():
            for method, spec in methods.items():
                rows.append(
                    f"<tr><td>{method.upper()}</td><td><code>/api{html.escape(path)}</code></td>"
                    f"<td>{html.escape(spec.get('summary', ''))}</td></tr>"
                )
        return (
            "<!doctype html><html lang='en'><meta charset='utf-8'><title>notalone counselor API</title>"
            "<h1>notalone counselor API</h1><p>Authorization: <code>Bearer &lt;token&gt;</code> "
            "(<code>notalone counselor token NAME</code>). "
            "Schema: <a href='/api/openapi.json'>openapi.json</a>"
            f"</p><table>{''.join(rows)}</table></html>"
        )

    return api
