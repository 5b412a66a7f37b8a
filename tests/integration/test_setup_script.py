"""scripts/setup, the set-up half of the README's test command: a second run changes nothing and is quick,
and a machine without a package (and without root) gets the package names and the apt-get line, and
no tests start."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup"
# Hidden from the unprivileged run below, as if Debian's browser were not installed.
HIDDEN = {"chromium", "chromedriver"}


def test_a_second_run_is_quick_and_installs_nothing() -> None:
    if os.geteuid() != 0:
        pytest.skip("scripts/setup manages system packages as root")
    started = time.monotonic()
    done = subprocess.run([str(SETUP)], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "installing" not in done.stderr and "creating" not in done.stderr
    assert time.monotonic() - started < 5


def test_without_root_missing_packages_are_named_with_the_apt_line() -> None:
    if os.geteuid() != 0 or shutil.which("runuser") is None or not Path("/usr/bin/python3").exists():
        pytest.skip("needs root (to run the script as nobody) and Debian's python3")
    # pytest's own temporary folders are private to root: this one must be readable by nobody.
    home = Path(tempfile.mkdtemp(prefix="notalone-setup-"))
    try:
        home.chmod(0o755)
        _run_as_nobody(home)
    finally:
        shutil.rmtree(home)


def _run_as_nobody(home: Path) -> None:
    bin_dir = home / "bin"
    bin_dir.mkdir()
    for tool in Path("/usr/bin").iterdir():
        if tool.name not in HIDDEN:
            (bin_dir / tool.name).symlink_to(tool)
    env = {"PATH": f"{bin_dir}:/usr/sbin:/sbin", "HOME": str(home)}
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", "env", *(f"{k}={v}" for k, v in env.items()), "bash", str(SETUP)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "chromium chromium-driver" in done.stderr
    assert "apt-get install -y chromium chromium-driver" in done.stderr
    assert "installing the project" not in done.stderr  # stopped before touching .venv
