"""deploy/: Debian's nginx accepts the production site (with a throw-away certificate), and every
notalone command the systemd units run is one the command line accepts, with settings that exist."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.cli import _parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def test_nginx_accepts_the_production_site(tmp_path: Path) -> None:
    if not Path(NGINX).exists() or shutil.which("openssl") is None:
        pytest.fail("Debian's nginx and openssl are needed (scripts/setup installs nginx)")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=bot.example.org",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    (tmp_path / "snippets").mkdir()
    shutil.copy(DEPLOY / "nginx" / "notalone-locations.conf", tmp_path / "snippets")
    site = (DEPLOY / "nginx" / "notalone.conf").read_text(encoding="utf-8")
    for deployed, here in {
        "/etc/letsencrypt/live/bot.example.org/fullchain.pem": tmp_path / "cert.pem",
        "/etc/letsencrypt/live/bot.example.org/privkey.pem": tmp_path / "key.pem",
        "/etc/nginx/snippets/": f"{tmp_path}/snippets/",
        "/var/log/nginx/notalone.log": tmp_path / "access.log",
    }.items():
        assert deployed in site
        site = site.replace(deployed, str(here))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ include {tmp_path}/site.conf; }}\n",
        encoding="utf-8",
    )
    checked = subprocess.run(
        [NGINX, "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("unit", sorted(p.name for p in (DEPLOY / "systemd").glob("*.service")))
def test_units_run_commands_and_settings_that_exist(unit: str) -> None:
    parsed = configparser.ConfigParser(strict=False, interpolation=None)
    parsed.optionxform = str  # type: ignore[assignment,method-assign]
    parsed.read(DEPLOY / "systemd" / unit, encoding="utf-8")
    service = parsed["Service"]
    command = shlex.split(service["ExecStart"].replace("%i", "8081"))
    assert command[0].endswith("/notalone")
    _parser().parse_args(command[1:])  # exits (SystemExit) on an unknown command or option
    text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8")
    for line in (x for x in text.splitlines() if x.startswith("Environment=")):  # the parser keeps one
        key = line.removeprefix("Environment=").split("=", 1)[0].strip()
        assert key.startswith("NOTALONE_")
        section, *rest = key.removeprefix("NOTALONE_").lower().split("__")
        assert section in Settings.model_fields, key
        assert rest, key
    assert service["User"] == "notalone" and service.get("NoNewPrivileges") == "true"
