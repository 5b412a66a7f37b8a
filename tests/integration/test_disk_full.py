"""A really full disk under the SQLite default: the bot apologises with 111, logs no text, loses nothing.

The disk fills for real without root: `notalone chat --jsonl` runs with a small RLIMIT_FSIZE (SIGXFSZ
ignored), so SQLite's writes past it fail with EFBIG. SQLite reports EFBIG as SQLITE_IOERR_WRITE ("disk I/O
error"; only ENOSPC becomes SQLITE_FULL): the same OperationalError -> StorageUnavailable path either way.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import Any

import pytest

NOTALONE = str(Path(sys.executable).parent / "notalone")
# Room for the WAL to grow above the freshly migrated database: about ten 8,000-character messages.
# It stays under SQLite's auto-checkpoint (1,000 pages = 4 MiB), so the WAL alone hits the limit.
ROOM = 1024 * 1024
SENT = 40
MESSAGE_CHARS = 8000  # chat.max_message_chars: stored whole, not cut
SCAM_SENTENCES = [
    "Cục Cảnh sát điều tra thông báo: tài khoản của em liên quan đến đường dây rửa tiền xuyên quốc gia.",
    "Em phải chuyển ngay hai mươi triệu đồng vào tài khoản tạm giữ của Bộ Công an để chứng minh trong sạch.",
    "Tuyệt đối không được kể với bố mẹ hay thầy cô, nếu lộ ra thì cả gia đình sẽ bị khởi tố hình sự.",
    "Sau mười lăm phút mà chưa thấy tiền, lệnh bắt giữ sẽ được gửi thẳng đến trường học của em.",
    "Hãy tải ứng dụng theo đường link anh gửi, nhập mã xác thực OTP và giữ máy, không được tắt cuộc gọi.",
    "Nếu hợp tác tốt, số tiền sẽ được hoàn trả đầy đủ trong ngày hôm nay sau khi xác minh xong hồ sơ.",
]
# Words of the messages with Vietnamese diacritics: log lines are English, so any of these is a leak.
LEAK_WORDS = sorted({w.strip(".,:") for s in SCAM_SENTENCES for w in s.split() if not w.isascii()})
AFTER_TEXT = "Có người lạ nhắn tin bảo mình chuyển khoản năm trăm nghìn để nhận quà, có phải lừa đảo không?"


def scam_text(number: int) -> str:
    """An 8,000-character scam message (NFC, full diacritics) with its own reference code."""
    parts = [f"Mã hồ sơ HS{number:03d}."]
    sentences = cycle(SCAM_SENTENCES)
    while sum(len(p) + 1 for p in parts) < MESSAGE_CHARS:
        parts.append(next(sentences))
    return unicodedata.normalize("NFC", " ".join(parts)[:MESSAGE_CHARS])


def bot_env(nlu_cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTALONE_")}
    env["NOTALONE_NLU__CACHE_DIR"] = str(nlu_cache)
    return env


def file_size_limit(limit: int) -> Callable[[], None]:
    """For preexec_fn: cap every file the child writes at `limit` bytes; EFBIG instead of SIGXFSZ."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def chat(
    home: Path, env: dict[str, str], lines: list[dict[str, str]], limit: int | None = None
) -> subprocess.CompletedProcess[bytes]:
    stdin = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    return subprocess.run(
        [NOTALONE, "--config", str(home / "config.yaml"), "chat", "--jsonl"],
        input=stdin,
        capture_output=True,
        cwd=home,
        env=env,
        timeout=300,
        check=False,
        preexec_fn=None if limit is None else file_size_limit(limit),
    )


def replies_by_user(stdout: bytes) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for line in stdout.decode().splitlines():
        reply = json.loads(line)
        grouped.setdefault(reply["user"], []).append(reply)
    return grouped


def stored_incoming(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT text FROM messages WHERE direction = 'in'")]


@dataclass
class FullDisk:
    home: Path
    db: Path
    migrated_size: int
    limit: int
    sent: dict[str, str]  # user -> text, in the order sent
    replies: dict[str, list[dict[str, Any]]]
    stderr: str
    returncode: int
    apology: str

    def answered_normally(self) -> list[str]:
        return [user for user in self.sent if self.replies.get(user) and not self.is_apology(user)]

    def is_apology(self, user: str) -> bool:
        return [r["text"] for r in self.replies[user]] == [self.apology]


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory: pytest.TempPathFactory, nlu_cache: Path, library: Any) -> FullDisk:
    """Migrate without a limit, then chat with files capped a little above their size until it is full."""
    home = tmp_path_factory.mktemp("disk-full")
    (home / "config.yaml").write_text("storage:\n  data_dir: data\n", encoding="utf-8")
    env = bot_env(nlu_cache)
    migrated = subprocess.run(
        [NOTALONE, "--config", str(home / "config.yaml"), "db", "upgrade"],
        capture_output=True,
        cwd=home,
        env=env,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    data = home / "data"
    # Each file (database, -wal, -shm, key) is limited on its own: the largest one sets the bar.
    largest = max(f.stat().st_size for f in data.iterdir())
    limit = largest + ROOM
    sent = {f"hs-{n:03d}": scam_text(n) for n in range(SENT)}
    done = chat(home, env, [{"user": u, "text": t} for u, t in sent.items()], limit=limit)
    return FullDisk(
        home=home,
        db=data / "notalone.db",
        migrated_size=largest,
        limit=limit,
        sent=sent,
        replies=replies_by_user(done.stdout),
        stderr=done.stderr.decode(),
        returncode=done.returncode,
        apology=library.text("temporary_error"),
    )


@pytest.mark.slow
class TestDiskFull:
    def test_every_message_is_answered_and_a_full_disk_apologises_with_111(self, full_disk: FullDisk) -> None:
        assert full_disk.returncode == 0, full_disk.stderr
        assert set(full_disk.replies) == set(full_disk.sent), "some messages got no answer at all"
        assert "111" in full_disk.apology
        normal = full_disk.answered_normally()
        # The disk really filled: some answers before, the apology for the rest of the run.
        assert 3 <= len(normal) < SENT - 5
        order = list(full_disk.sent)
        first_apology = next(i for i, user in enumerate(order) if full_disk.is_apology(user))
        assert order[:first_apology] == normal
        for user in order[first_apology:]:
            (reply,) = full_disk.replies[user]
            assert reply["text"] == full_disk.apology
            assert [b["action"] for b in reply["buttons"]] == ["call_111"]

    def test_stderr_names_the_failure_and_quotes_no_message(self, full_disk: FullDisk) -> None:
        assert "Traceback" not in full_disk.stderr
        entries = [json.loads(line) for line in full_disk.stderr.splitlines() if line.strip()]
        failures = [e for e in entries if e.get("exception") == "StorageUnavailable"]
        assert failures and all(e["event"] == "storage unavailable" for e in failures)
        assert all(e["level"] == "error" for e in failures)
        leaked = [w for w in LEAK_WORDS if w in full_disk.stderr]
        assert not leaked, f"message words in the log: {leaked}"
        for marker in ("HS0", "[parameters", "INSERT INTO"):
            assert marker not in full_disk.stderr

    def test_database_is_intact_and_keeps_every_answered_message(self, full_disk: FullDisk) -> None:
        for f in full_disk.db.parent.iterdir():
            assert f.stat().st_size <= full_disk.limit, f"{f.name} grew past the file-size limit"
        with closing(sqlite3.connect(full_disk.db)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        stored = stored_incoming(full_disk.db)
        normal = full_disk.answered_normally()
        assert len(stored) >= len(normal)
        missing = [user for user in normal if full_disk.sent[user] not in stored]
        assert not missing, f"answered but not stored: {missing}"

    def test_bot_works_again_once_there_is_room(self, full_disk: FullDisk, nlu_cache: Path) -> None:
        before = len(stored_incoming(full_disk.db))
        done = chat(full_disk.home, bot_env(nlu_cache), [{"user": "hs-after", "text": AFTER_TEXT}])
        assert done.returncode == 0 and "Traceback" not in done.stderr.decode()
        replies = replies_by_user(done.stdout)["hs-after"]
        assert replies and all(r["text"] != full_disk.apology for r in replies)
        stored = stored_incoming(full_disk.db)
        assert len(stored) == before + 1 and AFTER_TEXT in stored
        with closing(sqlite3.connect(full_disk.db)) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
