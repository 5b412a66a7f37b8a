"""Response headers that keep the console's and the API's pages out of frames, caches and other
sites' hands, and a same-origin check on the console's forms (the login form has no session to hold
a CSRF token; every browser sends Origin with a form POST)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response

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
    headers = security_headers(csp)

    @app.middleware("http")
    async def secure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response


def same_origin_posts(app: FastAPI) -> None:
    """Refuse (403) a POST another site's page made: its Origin names another host than ours (by
    name: a proxy may pass the Host header without the public port)."""

    @app.middleware("http")
    async def same_origin(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method == "POST":
            origin = request.headers.get("origin")
            ours = urlsplit(f"//{request.headers.get('host', '')}").hostname
            cross = (
                urlsplit(origin).hostname != ours or ours is None
                if origin is not None
                else request.headers.get("sec-fetch-site") == "cross-site"
            )
            if cross:
                return Response("cross-site form refused", status_code=403, media_type="text/plain")
        return await call_next(request)
