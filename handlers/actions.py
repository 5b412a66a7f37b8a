"""Answers to button presses and slash commands that need no stored sub-state."""

from __future__ import annotations

from collections.abc import Callable

from handlers.models import Reply, StoredMessage, Tactic
from handlers.ports import GuidanceLibrary
from handlers.replies import buttons, defang_links, red_flag_text

MENU_ACTIONS = ("call_111", "talk_to_counselor", "learn_more", "practice_start")
COMMANDS = {
    "start": "start",
    "help": "menu",
    "menu": "menu",
    "trogiup": "menu",
    "111": "call_111",
    "hotline": "call_111",
    "xoa": "delete",
    "delete": "delete",
    "luyentap": "practice_start",
    "ketthuc": "end_chat",
    "practice": "practice_start",
}


def command_action(command_text: str) -> str:
    """The action a slash command stands for ('unknown_command' when none)."""
    word = command_text.strip().split(maxsplit=1)[0] if command_text.strip() else ""
    name = word.lstrip("/").split("@", 1)[0].lower()
    return COMMANDS.get(name, "unknown_command")


def simple_action(
    action: str, lib: GuidanceLibrary, last: StoredMessage | None, defang: Callable[[str], str] | None = None
) -> list[Reply] | None:
    """Answer an action that needs no sub-state; None when the action is not one of these."""
    if action == "start":
        return [Reply(text=lib.text("start_prompt"), buttons=buttons(lib, *MENU_ACTIONS))]
    if action == "menu":
        return [Reply(text=lib.text("help"), buttons=buttons(lib, *MENU_ACTIONS))]
    if action == "call_111":
        return [Reply(text=lib.text("hotline"), buttons=buttons(lib, "talk_to_counselor"))]
    if action == "call_113":
        return [Reply(text=lib.text("hotline_113"), buttons=buttons(lib, "call_111"))]
    if action == "learn_more":
        return learn_more(lib, last, defang)
    if action == "explain_tactics":
        return [explain_tactics(lib, last)]
    if action == "share_with_adult":
        return share_with_adult(lib, last)
    if action == "delete":
        return [
            Reply(text=lib.text("delete_confirm"), buttons=buttons(lib, "delete_confirm", "delete_cancel"))
        ]
    if action == "delete_cancel":
        return [Reply(text=lib.text("delete_cancelled"), buttons=buttons(lib, *MENU_ACTIONS))]
    if action == "unknown_command":
        return [Reply(text=lib.text("unknown_command"), buttons=buttons(lib, *MENU_ACTIONS))]
    return None


def unknown_action(lib: GuidanceLibrary) -> list[Reply]:
    """A button that no longer exists or never did: say so kindly and offer the menu."""
    return [Reply(text=lib.text("unknown_action"), buttons=buttons(lib, *MENU_ACTIONS))]


def learn_more(
    lib: GuidanceLibrary, last: StoredMessage | None, defang: Callable[[str], str] | None = None
) -> list[Reply]:
    """The full guide behind the last answer: the crisis guide for a crisis; else the scenario's guide
    (or the tactics' explanations) and every red flag with why it is one."""
    analysis = last.analysis if last else None
    if analysis is not None and analysis.crisis and analysis.crisis_kind is not None:
        guide = lib.crisis_guidance(analysis.crisis_kind.value)
        if guide:
            return [
                Reply(text=guide, buttons=buttons(lib, "call_111", "talk_to_counselor", "share_with_adult"))
            ]
    guide = lib.scenario_guidance(analysis.scenario) if analysis and analysis.scenario else None
    if guide is None:
        guide = explain_tactics(lib, last).text
    texts = [guide]
    flags = red_flag_text(analysis.red_flags, lib) if analysis and analysis.tactics else None
    if flags:
        texts.append(defang_links(flags, defang))
    actions = ("call_111", "talk_to_counselor", "explain_tactics", "share_with_adult")
    return [Reply(text="\n\n".join(texts), buttons=buttons(lib, *actions))]


def explain_tactics(lib: GuidanceLibrary, last: StoredMessage | None) -> Reply:
    """Explain the tactics of the last analysed message, or all three when there was none."""
    found = list(last.analysis.tactics) if last and last.analysis and last.analysis.tactics else list(Tactic)
    text = "\n\n".join(lib.tactic_guidance(t) for t in found)
    return Reply(text=text, buttons=buttons(lib, "call_111", "talk_to_counselor"))


def share_with_adult(lib: GuidanceLibrary, last: StoredMessage | None) -> list[Reply]:
    """A short summary to forward to a parent or teacher: what happened, the tactics, the numbers.

    It quotes nothing of the message and names no one: the adult needs to know what kind of trap it
    is and where to call, not the student's conversation.
    """
    analysis = last.analysis if last else None
    if analysis is None or not (analysis.tactics or analysis.crisis):
        return [Reply(text=lib.text("share_nothing"), buttons=buttons(lib, "call_111"))]
    title = lib.scenario_title(analysis.scenario) if analysis.scenario else None
    tactics = ", ".join(lib.tactic_name(t) for t in analysis.tactics) or lib.text("share_no_tactic")
    summary = lib.text("share_summary", scenario=title or lib.text("share_unknown_scenario"), tactics=tactics)
    return [Reply(text=lib.text("share_intro")), Reply(text=summary, buttons=buttons(lib, "call_111"))]
