"""The terminal channel: an interactive chat, and the scriptable JSON-lines form of it."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, BinaryIO, TextIO

from bot.main import App
from handlers.models import Button, Channel, Incoming, MessageKind, Reply, Turn
from handlers.ports import StorageUnavailable

log = logging.getLogger(__name__)


class BadLine(ValueError):
    """A JSON line that does not follow the protocol; the message says why."""


def parse_line(raw: bytes) -> Incoming:
    """One stdin line of `chat --jsonl` -> an Incoming message (or BadLine)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadLine("not valid UTF-8") from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadLine(f"not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise BadLine('expected an object like {"user": "a", "text": "..."}')
    user = data.get("user")
    if isinstance(user, int) and not isinstance(user, bool):
        user = str(user)
    if not isinstance(user, str) or not user.strip() or len(user) > 200:
        raise BadLine('"user" must be a non-empty string (at most 200 characters)')
    unknown = set(data) - {"user", "text", "action"}
    if unknown:
        raise BadLine(f"unknown field(s) {sorted(unknown)}; use user, text or action")
    if ("text" in data) == ("action" in data):
        raise BadLine('give exactly one of "text" or "action"')
    if "action" in data:
        if not isinstance(data["action"], str):
            raise BadLine('"action" must be a string')
        return Incoming(
            channel=Channel.TERMINAL,
            platform_user_id=user,
            kind=MessageKind.ACTION,
            action=data["action"][:64],
        )
    if not isinstance(data["text"], str):
        raise BadLine('"text" must be a string')
    return incoming_text(user, data["text"])


def incoming_text(user: str, text: str) -> Incoming:
    """Typed text; a leading slash makes it a command."""
    kind = MessageKind.COMMAND if text.lstrip().startswith("/") else MessageKind.TEXT
    return Incoming(channel=Channel.TERMINAL, platform_user_id=user, kind=kind, text=text)


def reply_json(user: str, reply: Reply, turn: Turn | None) -> str:
    analysis = turn.analysis if turn is not None else None
    return json.dumps(
        {
            "user": user,
            "text": reply.text,
            "buttons": [b.model_dump() for b in reply.buttons],
            "tactics": [t.value for t in analysis.tactics] if analysis else [],
            "crisis": bool(analysis and analysis.crisis),
        },
        ensure_ascii=False,
    )


async def answer(app: App, msg: Incoming) -> tuple[Turn | None, list[Reply]]:
    """Run the core; if storage fails the student still gets an apology and the hotline."""
    try:
        turn = await app.handle(msg)
    except StorageUnavailable as exc:
        log.exception("storage unavailable", extra={"channel": "terminal", "error": type(exc).__name__})
        return None, [app.error_reply()]
    return turn, list(turn.replies)


async def run_jsonl(app: App, stdin: BinaryIO, stdout: TextIO, stderr: TextIO) -> int:
    """Answer each stdin JSON line with one stdout JSON line per bot reply; bad lines go to stderr."""
    loop = asyncio.get_running_loop()
    bad = 0
    number = 0
    while True:
        raw = await loop.run_in_executor(None, stdin.readline)
        if not raw:
            break
        number += 1
        if not raw.strip():
            continue
        try:
            msg = parse_line(raw.rstrip(b"\r\n"))
        except BadLine as exc:
            bad += 1
            print(f"notalone: stdin line {number}: {exc}; skipped", file=stderr, flush=True)
            continue
        turn, replies = await answer(app, msg)
        for reply in replies:
            print(reply_json(msg.platform_user_id, reply, turn), file=stdout, flush=True)
    return 1 if bad and bad == number else 0


def render(app: App, replies: list[Reply]) -> tuple[str, list[Button]]:
    """Replies as terminal text; every button of the turn gets its own number, counting on."""
    lines: list[str] = []
    choices: list[Button] = []
    for reply in replies:
        lines.append(f"{app.library.text('terminal_bot')}: {reply.text}")
        for button in reply.buttons:
            choices.append(button)
            lines.append(f"  {len(choices)}. {button.label}")
    return "\n".join(lines), choices


async def run_interactive(app: App, user: str, stdin: TextIO, stdout: TextIO) -> int:
    """A chat in the terminal; typing a choice's number presses that button."""
    loop = asyncio.get_running_loop()
    lib = app.library
    text, choices = render(app, (await answer(app, incoming_text(user, "/start")))[1])
    print(text, file=stdout)
    print(f"({lib.text('terminal_choose')})", file=stdout, flush=True)
    while True:
        print(f"{lib.text('terminal_you')}: ", end="", file=stdout, flush=True)
        try:
            line = await loop.run_in_executor(None, stdin.readline)
        except KeyboardInterrupt:
            line = ""
        if not line:
            print(f"\n{lib.text('terminal_goodbye')}", file=stdout, flush=True)
            return 0
        typed = line.strip()
        if typed.isdigit() and len(typed) <= 2 and choices:
            number = int(typed)
            if not 1 <= number <= len(choices):
                print(
                    lib.text("choice_out_of_range", n=typed, count=str(len(choices))), file=stdout, flush=True
                )
                continue
            msg = Incoming(
                channel=Channel.TERMINAL,
                platform_user_id=user,
                kind=MessageKind.ACTION,
                action=choices[number - 1].action,
            )
        else:
            msg = incoming_text(user, line.rstrip("\n"))
        _, replies = await answer(app, msg)
        text, new_choices = render(app, replies)
        print(text, file=stdout, flush=True)
        choices = new_choices or choices
