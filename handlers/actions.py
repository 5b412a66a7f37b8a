"""Answers to button presses and slash commands."""

from __future__ import annotations

from handlers.models import Direction, Reply, StoredMessage, Tactic
from handlers.ports import GuidanceLibrary
from handlers.replies import buttons

MENU_ACTIONS = ("call_111", "talk_to_counselor", "learn_more")


def answer_action(action: str, lib: GuidanceLibrary, history: list[StoredMessage]) -> list[Reply]:
    """Answer a button press; an unknown or stale action gets a friendly menu, never an error."""
    if action == "call_111":
        return [Reply(text=lib.text("hotline"), buttons=buttons(lib, "talk_to_counselor"))]
    if action == "talk_to_counselor":
        return [Reply(text=lib.text("counselor_not_available"), buttons=buttons(lib, "call_111"))]
    if action == "learn_more":
        return [_learn_more(lib, history)]
    if action == "delete_cancel":
        return [Reply(text=lib.text("delete_cancelled"), buttons=buttons(lib, *MENU_ACTIONS))]
    if action == "menu":
        return [Reply(text=lib.text("help"), buttons=buttons(lib, *MENU_ACTIONS))]
    return [Reply(text=lib.text("unknown_action"), buttons=buttons(lib, *MENU_ACTIONS))]


def answer_command(command_text: str, lib: GuidanceLibrary) -> list[Reply]:
    """Answer /start, /help and /111; anything else is explained, not ignored."""
    command = (
        command_text.strip().split(maxsplit=1)[0].lstrip("/").split("@", 1)[0].lower() if command_text else ""
    )
    if command == "start":
        # The welcome is already sent on first contact; a returning student just gets the prompt.
        return [Reply(text=lib.text("start_prompt"), buttons=buttons(lib, *MENU_ACTIONS))]
    if command in ("help", "menu"):
        return [Reply(text=lib.text("help"), buttons=buttons(lib, *MENU_ACTIONS))]
    if command in ("xoa", "delete"):
        return [
            Reply(text=lib.text("delete_confirm"), buttons=buttons(lib, "delete_confirm", "delete_cancel"))
        ]
    if command in ("111", "hotline"):
        return [Reply(text=lib.text("hotline"), buttons=buttons(lib, "talk_to_counselor"))]
    return [Reply(text=lib.text("unknown_command"), buttons=buttons(lib, *MENU_ACTIONS))]


def _learn_more(lib: GuidanceLibrary, history: list[StoredMessage]) -> Reply:
    """Explain the tactics of the last analysed message, or all three when there was none."""
    last = next(
        (m.analysis for m in reversed(history) if m.direction is Direction.IN and m.analysis is not None),
        None,
    )
    tactics = list(last.tactics) if last is not None and last.tactics else list(Tactic)
    text = "\n\n".join(lib.tactic_guidance(t) for t in tactics)
    return Reply(text=text, buttons=buttons(lib, "call_111", "talk_to_counselor"))
