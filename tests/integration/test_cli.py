"""The `notalone` command as a user runs it: the JSONL protocol, bad input, and operator errors."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from storage.migrate import head_revision

NOTALONE = str(Path(sys.executable).parent / "notalone")


@pytest.fixture(autouse=True)
def _shared_model(nlu_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTALONE_NLU__CACHE_DIR", str(nlu_cache))


def run(args: list[str], stdin: bytes = b"", cwd: Path | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
    full_env["NOTALONE_NLU__CACHE_DIR"] = os.environ["NOTALONE_NLU__CACHE_DIR"]
    full_env.update(env or {})
    return subprocess.run(
        [NOTALONE, *args], input=stdin, capture_output=True, cwd=cwd, env=full_env, timeout=120, check=False
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text("storage:\n  data_dir: data\n", encoding="utf-8")
    return path


def lines(out: bytes) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in out.decode().splitlines()]


class TestJsonl:
    def test_hello_gets_a_json_reply(self, config: Path) -> None:
        done = run(["--config", str(config), "chat", "--jsonl"], b'{"user":"a","text":"xin ch\xc3\xa0o"}\n')
        assert done.returncode == 0, done.stderr
        replies = lines(done.stdout)
        assert replies and replies[0]["user"] == "a"
        assert set(replies[0]) == {"user", "text", "buttons", "tactics", "crisis"}
        assert (config.parent / "data" / "notalone.db").exists()

    def test_scam_and_crisis(self, config: Path) -> None:
        stdin = "\n".join(
            json.dumps(x, ensure_ascii=False)
            for x in [
                {"user": "a", "text": "ck 2tr ngay ko t tung anh m len group truong"},
                {"user": "b", "text": "mình không muốn sống nữa"},
            ]
        ).encode()
        replies = lines(run(["--config", str(config), "chat", "--jsonl"], stdin).stdout)
        # Paying now or the photos leak: a crisis. The turn is one calm message, 111 first; the
        # tactics and their quotes wait for the full guide.
        (scam,) = [r for r in replies if r["user"] == "a"]
        assert set(scam["tactics"]) >= {"fear", "control"}
        assert scam["crisis"] is True and scam["buttons"][0]["action"] == "call_111" and "111" in scam["text"]
        assert "learn_more" in [b["action"] for b in scam["buttons"]]
        (first,) = [r for r in replies if r["user"] == "b"]  # no welcome in a crisis turn
        assert first["crisis"] is True and first["buttons"][0]["action"] == "call_111"

    def test_actions_and_unknown_action(self, config: Path) -> None:
        stdin = b'{"user":"a","action":"call_111"}\n{"user":"a","action":"nope"}\n'
        replies = lines(run(["--config", str(config), "chat", "--jsonl"], stdin).stdout)
        hotline, unknown = replies  # one message a turn; the introduction ends the first
        assert "111" in hotline["text"] and "/xoa" in hotline["text"]
        assert "không còn dùng được" in unknown["text"]

    def test_bad_lines_are_explained_on_stderr_and_skipped(self, config: Path) -> None:
        stdin = b"\n".join(
            [
                b"not json",
                b'{"user":"a","text":"\xff\xfe broken"}',
                b'["a list"]',
                b'{"text":"no user"}',
                b'{"user":"a","text":"x","action":"call_111"}',
                b'{"user":"a","text":42}',
                b'{"user":"a","text":"   "}',
                b'{"user":"a","text":"' + b"a" * 100_000 + b'"}',
                b'{"user":"a","text":"ctrl \x1b[2J raw"}',
                b'{"user":"a","text":"ctrl \\u001b[2J \\u0000 escaped"}',
            ]
        )
        done = run(["--config", str(config), "chat", "--jsonl"], stdin)
        assert done.returncode == 0
        err = done.stderr.decode()
        for n, why in [
            (1, "not valid JSON"),
            (2, "not valid UTF-8"),
            (3, "expected an object"),
            (4, '"user"'),
            (5, "give exactly one"),
            (6, '"text" must be a string'),
            (9, "not valid JSON"),
        ]:
            assert f"stdin line {n}: {why}" in err
        assert "Traceback" not in err
        assert "stdin line 10" not in err
        texts = [r["text"] for r in lines(done.stdout)]
        assert any("chưa thấy chữ nào" in t for t in texts)
        assert any("8000 ký tự đầu" in t for t in texts)

    def test_messages_survive_a_restart(self, config: Path) -> None:
        run(["--config", str(config), "chat", "--jsonl"], b'{"user":"a","text":"hello"}\n')
        second = lines(
            run(["--config", str(config), "chat", "--jsonl"], b'{"user":"a","text":"hi"}\n').stdout
        )
        assert all("/xoa" not in r["text"] for r in second)  # not first contact any more: no introduction


class TestOperatorErrors:
    def test_read_only_data_directory(self, tmp_path: Path) -> None:
        if os.geteuid() == 0:
            target = "/proc/notalone-data"  # root ignores permission bits; /proc refuses everyone
        else:
            locked = tmp_path / "locked"
            locked.mkdir()
            locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
            target = str(locked / "data")
        config = tmp_path / "config.yaml"
        config.write_text(f"storage:\n  data_dir: {target}\n", encoding="utf-8")
        done = run(["--config", str(config), "chat", "--jsonl"], b'{"user":"a","text":"hi"}\n')
        assert done.returncode == 2
        err = done.stderr.decode()
        assert err.startswith("notalone: cannot create the data directory") and "storage.data_dir" in err
        assert "Traceback" not in err

    def test_existing_database_in_read_only_folder(self, config: Path) -> None:
        run(["--config", str(config), "chat", "--jsonl"], b'{"user":"a","text":"hello"}\n')
        db = config.parent / "data" / "notalone.db"
        before = db.read_bytes()
        env = {
            "NOTALONE_STORAGE__URL": f"sqlite+aiosqlite:///file:{db}?mode=ro&uri=true",
            "NOTALONE_PRIVACY__PSEUDONYM_KEY": "x" * 32,
        }
        done = run(["--config", str(config), "chat", "--jsonl"], b'{"user":"a","text":"hi"}\n', env=env)
        assert "Traceback" not in done.stderr.decode()
        assert done.returncode == 0
        # The student got an apology with the hotline, and nothing stored before was lost.
        assert "111" in lines(done.stdout)[0]["text"]
        assert db.read_bytes()[:100] == before[:100]

    def test_corrupt_config(self, tmp_path: Path) -> None:
        bad = tmp_path / "config.yaml"
        bad.write_text("storage: [\n", encoding="utf-8")
        done = run(["--config", str(bad), "chat", "--jsonl"])
        assert done.returncode == 2
        assert done.stderr.decode().startswith(f"notalone: {bad}:")
        assert len(done.stderr.decode().splitlines()) == 1

    def test_config_show_masks_secrets(self, config: Path) -> None:
        env = {"NOTALONE_PRIVACY__PSEUDONYM_KEY": "super-secret-key"}
        done = run(["--config", str(config), "config", "show"], env=env)
        assert done.returncode == 0
        assert b"super-secret-key" not in done.stdout and b"**********" in done.stdout
        assert b"retention_days: 30" in done.stdout

    def test_db_upgrade_and_content_check(self, config: Path) -> None:
        done = run(["--config", str(config), "db", "upgrade"])
        newest = head_revision()
        assert done.returncode == 0 and f"schema at {newest} (newest {newest})".encode() in done.stdout
        done = run(["--config", str(config), "content", "check"])
        assert done.returncode == 0 and b"ok" in done.stdout


class TestRetention:
    def test_retention_run_reports_what_it_deleted(self, config: Path) -> None:
        run(["--config", str(config), "chat", "--jsonl"], b'{"user":"a","text":"hello"}\n')
        config.write_text(
            config.read_text(encoding="utf-8") + "privacy:\n  retention_days: 1\n", encoding="utf-8"
        )
        done = run(["--config", str(config), "retention", "run"])
        assert done.returncode == 0
        assert b"deleted 0 conversation(s) older than 1 days" in done.stdout  # it is only seconds old


class TestInteractive:
    def test_numbers_count_on_across_replies_and_bad_numbers_are_explained(self, config: Path) -> None:
        scam = "Cục Cảnh sát thông báo bạn liên quan đường dây rửa tiền. Không được nói với ai, chuyển 20 triệu ngay."
        stdin = f"{scam}\n4\n9\n/luyentap\n".encode()
        done = run(["--config", str(config), "chat", "--user", "tester"], stdin)
        out = done.stdout.decode()
        assert done.returncode == 0 and "Traceback" not in done.stderr.decode()
        assert "  4. 👍 Có ích" in out  # the feedback buttons continue the answer's numbering
        assert "Cảm ơn bạn đã cho mình biết" in out  # 4 pressed "helpful"
        assert "Không có lựa chọn số 9" in out
        assert "Câu 1/5" in out
        assert out.rstrip().endswith("Tạm biệt nhé. Khi cần, gõ notalone chat hoặc gọi 111.")


class TestTelegramConfig:
    def test_run_telegram_without_token_names_the_variable(self, config: Path) -> None:
        done = run(["--config", str(config), "run", "telegram"])
        assert done.returncode == 2
        assert (
            done.stderr.decode().strip()
            == "notalone: telegram.token is required: set NOTALONE_TELEGRAM__TOKEN"
        )

    def test_token_in_the_file_is_refused(self, tmp_path: Path) -> None:
        bad = tmp_path / "config.yaml"
        bad.write_text("telegram:\n  token: '123:abc'\n", encoding="utf-8")
        done = run(["--config", str(bad), "run", "telegram"])
        assert done.returncode == 2 and "NOTALONE_TELEGRAM__TOKEN" in done.stderr.decode()

    def test_webhook_needs_public_address_and_secret(self, config: Path) -> None:
        done = run(["--config", str(config), "serve"], env={"NOTALONE_TELEGRAM__TOKEN": "123:abc"})
        assert done.returncode == 2 and "telegram.public_base_url" in done.stderr.decode()


class TestCounselorToken:
    def test_token_is_printed_once_and_only_its_hash_is_stored(self, config: Path) -> None:
        done = run(["--config", str(config), "counselor", "token", "anna"])
        assert done.returncode == 0
        token = done.stdout.decode().strip()
        assert len(token) >= 40 and "shown once" in done.stderr.decode()
        database = (config.parent / "data" / "notalone.db").read_bytes()
        assert token.encode() not in database
        again = run(["--config", str(config), "counselor", "token", "anna"])
        assert again.stdout.decode().strip() != token  # a new token replaces the old one
        empty = run(["--config", str(config), "counselor", "token", " "])
        assert empty.returncode == 2 and "1 to 64 characters" in empty.stderr.decode()


class TestCounselorAdd:
    def test_add_reads_the_password_from_stdin_and_refuses_a_short_one(self, config: Path) -> None:
        done = run(
            ["--config", str(config), "counselor", "add", "anna", "--supervisor"], b"mot-mat-khau-dai\n"
        )
        assert done.returncode == 0 and b"/console/login" in done.stdout
        assert b"mot-mat-khau-dai" not in (config.parent / "data" / "notalone.db").read_bytes()
        short = run(["--config", str(config), "counselor", "add", "binh"], b"ngan\n")
        assert short.returncode == 2 and "at least 10 characters" in short.stderr.decode()

    def test_revoke_names_an_unknown_counselor_and_ends_a_token(self, config: Path) -> None:
        unknown = run(["--config", str(config), "counselor", "revoke", "anna"])
        assert unknown.returncode == 2 and "no counselor named 'anna'" in unknown.stderr.decode()
        made = run(["--config", str(config), "counselor", "token", "anna"])
        assert "expires in 90 days" in made.stderr.decode()
        done = run(["--config", str(config), "counselor", "revoke", "anna"])
        assert done.returncode == 0 and b"ended" in done.stdout
        db = sqlite3.connect(config.parent / "data" / "notalone.db")
        try:
            assert db.execute("SELECT token_hash FROM counselors WHERE name = 'anna'").fetchone() == (None,)
        finally:
            db.close()

    def test_link_a_telegram_account(self, config: Path) -> None:
        unknown = run(["--config", str(config), "counselor", "telegram", "anna", "5001"])
        assert unknown.returncode == 2 and "no counselor named 'anna'" in unknown.stderr.decode()
        run(["--config", str(config), "counselor", "add", "anna"], b"mot-mat-khau-dai\n")
        bad = run(["--config", str(config), "counselor", "telegram", "anna", "@anna"])
        assert bad.returncode == 2 and "must be a number" in bad.stderr.decode()
        linked = run(["--config", str(config), "counselor", "telegram", "anna", "5001"])
        assert linked.returncode == 0 and b"linked" in linked.stdout
        unlinked = run(["--config", str(config), "counselor", "telegram", "anna", "none"])
        assert unlinked.returncode == 0 and b"unlinked" in unlinked.stdout


class TestRedFlagLists:
    def test_deny_check_and_remove(self, config: Path) -> None:
        text = "vào scam-site.xyz/nhanqua nhé"
        before = run(["--config", str(config), "redflags", "check", text])
        assert before.returncode == 0 and b"deny_list" not in before.stdout
        added = run(["--config", str(config), "redflags", "deny", "Scam-Site.xyz", "www.other-scam.top"])
        assert added.returncode == 0 and b"2 domain(s)" in added.stdout
        after = run(["--config", str(config), "redflags", "check", text])
        assert b"scam-site[.]xyz" in after.stdout and b"deny_list" in after.stdout
        bad = run(["--config", str(config), "redflags", "allow", "not a domain"])
        assert bad.returncode == 2 and "not a domain" in bad.stderr.decode()
        run(["--config", str(config), "redflags", "deny", "--remove", "scam-site.xyz"])
        assert b"deny_list" not in run(["--config", str(config), "redflags", "check", text]).stdout


@pytest.mark.slow
class TestFirstRun:
    def test_training_is_announced_once_then_the_greeting(self, config: Path, tmp_path: Path) -> None:
        """The first start trains the model (about 20 s): the person at the terminal is told, in
        Vietnamese, before the greeting; the JSON-lines form keeps stdout for replies."""
        cache = {"NOTALONE_NLU__CACHE_DIR": str(tmp_path / "empty-cache")}
        first = run(["--config", str(config), "chat"], b"", env=cache)
        assert first.returncode == 0, first.stderr
        out = first.stdout.decode()
        assert out.startswith("Đang chuẩn bị mô hình ngôn ngữ lần đầu")
        assert out.index("Đang chuẩn bị") < out.index("Không Một Mình:")  # the greeting comes after
        again = run(["--config", str(config), "chat", "--jsonl"], b'{"user":"a","text":"hi"}\n', env=cache)
        assert again.returncode == 0 and "Đang chuẩn bị" not in again.stderr.decode()  # trained once
        assert [r["user"] for r in lines(again.stdout)] == ["a"]

    def test_jsonl_announces_on_stderr(self, config: Path, tmp_path: Path) -> None:
        cache = {"NOTALONE_NLU__CACHE_DIR": str(tmp_path / "empty-cache")}
        done = run(["--config", str(config), "chat", "--jsonl"], b'{"user":"a","text":"hi"}\n', env=cache)
        assert done.returncode == 0, done.stderr
        assert "Đang chuẩn bị mô hình ngôn ngữ lần đầu" in done.stderr.decode()
        assert all(r["user"] == "a" for r in lines(done.stdout))
