"""Response headers that keep the console's and the API's pages out of frames, caches and other
sites' hands, and a same-origin check on the console's forms (the login form has no session to hold
a CSRF token; every browser sends Origin with a form POST)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The console: its own stylesheet and script only (no inline code, no other site), no frames.
CONSOLE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# JSON and plain pages that load nothing.
NOTHING_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def security_headers(csp: str) -> dict[str, str]:
    """The headers every console and API answer carries (students' words must not stay in a cache).
    The referrer goes to our own pages only: with none at all, browsers send `Origin: null` with a
    form, and the same-origin check below could not tell our forms from another site's."""
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def add_security_headers(app: FastAPI, csp: str) -> None:
    """Give every answer of `app` the security headers; a route that set one keeps its own."""
    app.add_middleware(SecurityHeaders, headers=security_headers(csp))


def same_origin_posts(app: FastAPI) -> None:
    """Refuse (403) a POST another site's page made: its Origin names another host than ours (by
    name: a proxy may pass the Host header without the public port)."""
    app.add_middleware(SameOriginPosts)


class SecurityHeaders:
    """ASGI middleware adding headers to every HTTP answer that lacks them. Plain ASGI: Starlette's
    `BaseHTTPMiddleware` runs each request in a task group with streams, a cost every webhook paid."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in self.headers if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


class SameOriginPosts:
    """ASGI middleware answering 403 to a POST whose Origin is another host (or, without Origin,
    that the browser marks cross-site)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            ours = urlsplit(f"//{headers.get('host', '')}").hostname
            cross = (
                urlsplit(origin).hostname != ours or ours is None
                if origin is not None
                else headers.get("sec-fetch-site") == "cross-site"
            )
            if cross:
                refused = Response("cross-site form refused", status_code=403, media_type="text/plain")
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)
