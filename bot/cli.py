"""The `notalone` command line; operator errors are one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import re
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.logs import configure_logging
from bot.main import StartupError, build_app, ensure_data_dir, load_content, open_engine, where
from bot.serve import run_telegram, run_zalo, serve
from bot.settings import ConfigError, Settings, load_settings, masked
from bot.terminal import run_interactive, run_jsonl
from bot.zalo import admin as zalo_admin
from bot.zalo.channel import require_zalo_token
from counselor.auth import new_token, token_hash
from counselor.console import hash_password
from handlers.ports import GuidanceLibrary
from nlu import cli as nlu_cli
from nlu.data import Example
from nlu.flags import RedFlagDetector, read_overlay, write_overlay
from nlu.rasa_data import write_feedback_yaml
from storage.console import ConsoleStore
from storage.migrate import current_revision, head_revision, upgrade

MIN_PASSWORD = 10


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notalone", description="Không Một Mình: the anti-scam chatbot.")
    parser.add_argument(
        "--config", type=Path, help="config file (default: $NOTALONE_CONFIG or ./config.yaml)"
    )
    parser.add_argument("--log-level", default="WARNING", help="log level for stderr (default WARNING)")
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument("--jsonl", action="store_true", help="JSON lines on stdin/stdout instead of a prompt")
    chat.add_argument("--user", default="terminal", help="who is typing (interactive mode)")

    config = sub.add_parser("config", help="configuration")
    config.add_subparsers(dest="action", required=True).add_parser("show", help="print the effective config")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="action", required=True)
    db_sub.add_parser("upgrade", help="apply all migrations")
    db_sub.add_parser("current", help="print the schema revision")

    nlu = sub.add_parser("nlu", help="the tactic and crisis classifier")
    nlu_sub = nlu.add_subparsers(dest="nlu_action", required=True)
    backend = argparse.ArgumentParser(add_help=False)
    backend.add_argument("--backend", choices=["embedded", "rasa"], help="default: nlu.backend of the config")
    nlu_sub.add_parser("train", parents=[backend], help="train the model from the Rasa-format data")
    classify = nlu_sub.add_parser("classify", parents=[backend], help='{"id","text"} lines in, analyses out')
    classify.add_argument("--jsonl", action="store_true", required=True, help="JSON lines on stdin/stdout")
    evaluate = nlu_sub.add_parser("eval", parents=[backend], help="score on labelled Rasa-format data")
    evaluate.add_argument("--data", type=Path, required=True, help="a Rasa NLU YAML file or folder")
    evaluate.add_argument(
        "--gold", type=Path, help="hand-annotated quotes and red flags (nlu/gold/*.yml) to score against"
    )
    export = nlu_sub.add_parser("export-feedback", help="counselors' relabelled messages as Rasa NLU YAML")
    export.add_argument("--out", type=Path, required=True, help="the YAML file to write")
    rasa = nlu_sub.add_parser("rasa", help="the Rasa Open Source server")
    rasa.add_argument(
        "rasa_action", choices=["setup", "validate", "serve"], help="serve = setup + train + serve"
    )

    run = sub.add_parser("run", help="run a channel")
    channels = run.add_subparsers(dest="action", required=True)
    channels.add_parser("telegram", help="Telegram, long polling")
    channels.add_parser("zalo", help="Zalo Bot Platform, long polling")
    serve = sub.add_parser(
        "serve", help="the web app: Telegram and Zalo webhooks, console, API, /healthz, /readyz, /goi/111"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)

    zalo = sub.add_parser("zalo", help="the Zalo bot: its webhook, and a check with the real token")
    zalo_sub = zalo.add_subparsers(dest="action", required=True)
    hook = zalo_sub.add_parser("webhook", help="set, show or delete the webhook Zalo posts updates to")
    hook.add_argument("hook_action", choices=["set", "info", "delete"])
    hook.add_argument("url", nargs="?", help="https address (default: <zalo.public_base_url>/webhooks/zalo)")
    zalo_check = zalo_sub.add_parser("check", help="getMe, getWebhookInfo, and a test message to --chat-id")
    zalo_check.add_argument(
        "--chat-id", help="a chat to send one test message to (your own chat with the bot)"
    )

    counselor = sub.add_parser("counselor", help="counselors")
    counselor_sub = counselor.add_subparsers(dest="action", required=True)
    add = counselor_sub.add_parser("add", help="create a console login (password read from stdin or asked)")
    add.add_argument("name")
    add.add_argument("--supervisor", action="store_true")
    token = counselor_sub.add_parser("token", help="create a counselor if needed and print a new API token")
    token.add_argument("name")
    token.add_argument("--supervisor", action="store_true")
    revoke = counselor_sub.add_parser(
        "revoke", help="end a counselor's console sessions and API token now (a lost laptop, a leaver)"
    )
    revoke.add_argument("name")
    link = counselor_sub.add_parser(
        "telegram", help="link a counselor's Telegram account (user id) for replying in the counselors' group"
    )
    link.add_argument("name")
    link.add_argument("telegram_user_id", help="a number; 'none' unlinks")

    retention = sub.add_parser("retention", help="data retention")
    retention.add_subparsers(dest="action", required=True).add_parser(
        "run", help="delete conversations older than privacy.retention_days (never escalated ones only)"
    )

    flags = sub.add_parser("redflags", help="red-flag lists: the operator's allow and deny lists of domains")
    flags_sub = flags.add_subparsers(dest="action", required=True)
    for which, what in (("allow", "official domains"), ("deny", "known scam domains")):
        change = flags_sub.add_parser(which, help=f"add {what} (or --remove them) under the data directory")
        change.add_argument("domains", nargs="+")
        change.add_argument("--remove", action="store_true")
    check = flags_sub.add_parser("check", help="print the red flags the bot finds in a text")
    check.add_argument("text")

    content = sub.add_parser("content", help="content library")
    content.add_subparsers(dest="action", required=True).add_parser("check", help="validate every text")
    return parser


def _preparing(stream: TextIO) -> Callable[[GuidanceLibrary], None]:
    """Tell the person at the terminal, once, why the first answer takes a while."""

    def tell(library: GuidanceLibrary) -> None:
        print(library.text("terminal_preparing"), file=stream, flush=True)

    return tell


async def _chat(settings: Settings, args: argparse.Namespace) -> int:
    # The JSON-lines form keeps stdout for replies: the notice goes to stderr there.
    app = await build_app(settings, on_training=_preparing(sys.stderr if args.jsonl else sys.stdout))
    try:
        if args.jsonl:
            return await run_jsonl(app, sys.stdin.buffer, sys.stdout, sys.stderr)
        sys.stdin.reconfigure(errors="replace")  # type: ignore[union-attr]
        return await run_interactive(app, args.user, sys.stdin, sys.stdout)
    finally:
        await app.close()


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    engine = await open_engine(
        settings.model_copy(update={"storage": settings.storage.model_copy(update={"auto_upgrade": False})})
    )
    try:
        if args.action == "upgrade":
            await upgrade(engine)
        revision = await current_revision(engine)
    finally:
        await engine.dispose()
    print(f"{where(settings)}: schema at {revision or 'empty'} (newest {head_revision()})")
    return 0


async def _config_show(settings: Settings, args: argparse.Namespace) -> int:
    print(
        yaml.safe_dump(json.loads(json.dumps(masked(settings))), allow_unicode=True, sort_keys=False), end=""
    )
    return 0


async def _content_check(settings: Settings, args: argparse.Namespace) -> int:
    load_content(settings)
    print(f"content library '{settings.content.locale}': ok")
    return 0


async def _retention(settings: Settings, args: argparse.Namespace) -> int:
    app = await build_app(settings)
    try:
        removed = await app.purge_expired()
    finally:
        await app.close()
    print(f"retention: deleted {removed} conversation(s) older than {settings.privacy.retention_days} days")
    return 0


async def _run_telegram(settings: Settings, args: argparse.Namespace) -> int:
    return await run_telegram(settings)


async def _run_zalo(settings: Settings, args: argparse.Namespace) -> int:
    return await run_zalo(settings)


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    return await serve(settings, args.host, args.port)


async def _zalo_webhook(settings: Settings, args: argparse.Namespace) -> int:
    require_zalo_token(settings)
    for line in await zalo_admin.webhook(settings, args.hook_action, args.url):
        print(line)
    return 0


async def _zalo_check(settings: Settings, args: argparse.Namespace) -> int:
    require_zalo_token(settings)
    status, lines = await zalo_admin.check(settings, args.chat_id)
    for line in lines:
        print(line)
    return status


def _counselor_name(args: argparse.Namespace) -> tuple[str, str]:
    """The counselor's name (checked) and role from the command line."""
    name = args.name.strip()
    if not name or len(name) > 64:
        raise StartupError("counselor name must be 1 to 64 characters")
    return name, "supervisor" if args.supervisor else "counselor"


async def _counselor_token(settings: Settings, args: argparse.Namespace) -> int:
    name, role = _counselor_name(args)
    token = new_token()
    app = await build_app(settings)
    try:
        await app.add_counselor_token(name, role, token_hash(token))
    finally:
        await app.close()
    print(token)
    print(
        f"(API token for {name}; shown once: the database keeps only its hash; it expires in "
        f"{settings.console.token_days} days)",
        file=sys.stderr,
    )
    return 0


async def _counselor_add(settings: Settings, args: argparse.Namespace) -> int:
    name, role = _counselor_name(args)
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {name}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < MIN_PASSWORD:
        raise StartupError(f"the password must have at least {MIN_PASSWORD} characters")
    app = await build_app(settings)
    try:
        await app.set_counselor_password(name, role, hash_password(password))
    finally:
        await app.close()
    print(f"counselor {name} can log in at /console/login")
    return 0


async def _counselor_revoke(settings: Settings, args: argparse.Namespace) -> int:
    name = args.name.strip()
    app = await build_app(settings)
    try:
        found = await app.revoke_counselor(name)
    finally:
        await app.close()
    if not found:
        raise StartupError(f"no counselor named {name!r}")
    print(f"counselor {name}: every console session and the API token ended")
    return 0


async def _counselor_telegram(settings: Settings, args: argparse.Namespace) -> int:
    name = args.name.strip()
    raw = args.telegram_user_id.strip().lower()
    if raw != "none" and not raw.isdigit():
        raise StartupError("telegram_user_id must be a number (the user's Telegram id) or 'none'")
    user_id = None if raw == "none" else int(raw)
    app = await build_app(settings)
    try:
        found = await app.link_counselor_telegram(name, user_id)
    finally:
        await app.close()
    if not found:
        raise StartupError(
            f"no counselor named {args.name.strip()!r}: create one with `notalone counselor add`"
        )
    print(f"counselor {args.name.strip()}: Telegram {'unlinked' if user_id is None else 'linked'}")
    return 0


DOMAIN = re.compile(r"^(?=.{3,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


async def _redflags_change(settings: Settings, args: argparse.Namespace) -> int:
    data_dir = ensure_data_dir(settings)
    given = [d.strip().lower().removeprefix("www.") for d in args.domains]
    bad = [d for d in given if not DOMAIN.match(d)]
    if bad:
        raise StartupError(f"not a domain: {', '.join(bad)} (write it like example.com.vn)")
    current = set(read_overlay(data_dir, args.action))
    updated = current - set(given) if args.remove else current | set(given)
    path = write_overlay(data_dir, args.action, sorted(updated))
    print(f"{path}: {len(updated)} domain(s); restart the bot to use them")
    return 0


async def _redflags_check(settings: Settings, args: argparse.Namespace) -> int:
    for flag in RedFlagDetector(ensure_data_dir(settings)).find(args.text):
        print(f"{flag.kind.value}\t{flag.shown}\t{', '.join(flag.reasons)}")
    return 0


async def _export_feedback(settings: Settings, args: argparse.Namespace) -> int:
    app = await build_app(settings)
    try:
        async with app.sessions() as session:
            corrected = await ConsoleStore(session).relabeled_examples()
    finally:
        await app.close()
    examples = [Example(r.text, frozenset(r.tactics), r.crisis) for r in corrected]
    count = write_feedback_yaml(examples, args.out)
    print(f"{args.out}: {count} relabelled message(s); review and anonymise before adding them to nlu/data")
    return 0


COMMANDS: dict[tuple[str, str | None], Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    ("chat", None): _chat,
    ("config", "show"): _config_show,
    ("db", "upgrade"): _db,
    ("db", "current"): _db,
    ("content", "check"): _content_check,
    ("retention", "run"): _retention,
    ("counselor", "token"): _counselor_token,
    ("counselor", "add"): _counselor_add,
    ("counselor", "telegram"): _counselor_telegram,
    ("counselor", "revoke"): _counselor_revoke,
    ("redflags", "allow"): _redflags_change,
    ("redflags", "deny"): _redflags_change,
    ("redflags", "check"): _redflags_check,
    ("run", "telegram"): _run_telegram,
    ("run", "zalo"): _run_zalo,
    ("serve", None): _serve,
    ("zalo", "webhook"): _zalo_webhook,
    ("zalo", "check"): _zalo_check,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `notalone` command."""
    args = _parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        settings = load_settings(args.config)
        if args.command == "nlu" and args.nlu_action == "export-feedback":
            return asyncio.run(_export_feedback(settings, args))
        if args.command == "nlu":
            # Training and the Rasa server are blocking work with their own event loops.
            return nlu_cli.run(settings.nlu, args)
        handler = COMMANDS[(args.command, getattr(args, "action", None))]
        return asyncio.run(handler(settings, args))
    except (ConfigError, StartupError) as exc:
        for line in str(exc).splitlines():
            print(f"notalone: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
