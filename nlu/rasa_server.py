"""Setting up, training and serving a real Rasa Open Source server in its own venv.

Rasa 3.6 pins pydantic 1, SQLAlchemy 1.4 and TensorFlow 2.12, so it cannot share notalone's
environment: it gets a venv under `nlu.home`, on Python 3.10 from nlu/rasa/requirements.lock, or,
where no 3.10 exists (a bare Debian 12), on Python 3.11 from nlu/rasa/requirements-py311.lock.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from nlu.data import TRAINING_DIR, data_files, fingerprint, load_examples
from nlu.lexicon import LEXICON_FILE
from nlu.normalize import TEENCODE_FILE
from nlu.rasa_data import write_rasa_nlu

log = logging.getLogger(__name__)
RASA_DIR = Path(__file__).resolve().parent / "rasa"
LOCK = RASA_DIR / "requirements.lock"
LOCK_PY311 = RASA_DIR / "requirements-py311.lock"
# matplotlib 3.5 (pinned by Rasa) is built from source on 3.11, against Debian's freetype and qhull.
MPLSETUP = RASA_DIR / "mplsetup.cfg"
CONFIG = RASA_DIR / "config.yml"
# What the Rasa process imports besides Rasa: notalone's own classifier as a component (by the module
# name config.yml uses) and the heads it shares with the embedded backend, in a package `nlu` of its
# own (see plugin_dir). None: an empty file.
PLUGINS: dict[str, Path | None] = {
    "notalone_component.py": RASA_DIR / "notalone_component.py",
    "nlu/__init__.py": None,
    "nlu/heads.py": RASA_DIR.parent / "heads.py",
}
PIP_CAP = "pip<24.1"  # newer pip refuses Rasa 3.6's dependency metadata


class RasaSetupError(Exception):
    """Rasa could not be set up, trained or started; the message says what to do."""


def rasa_env(plugins: Path | None = None) -> dict[str, str]:
    """The environment of a Rasa command; with `plugins`, that folder is on its PYTHONPATH."""
    env = dict(os.environ)
    env.update({"RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"})
    # Models are kept by fingerprint (train), so Rasa's own training cache would only fill the disk.
    env["RASA_MAX_CACHE_SIZE"] = "0"
    if plugins is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(plugins), env.get("PYTHONPATH", "")) if p)
    return env


def plugin_dir(home: Path) -> Path:
    """A folder holding copies of PLUGINS, named by their contents, for the Rasa process's PYTHONPATH
    (putting nlu/ itself there would expose every notalone module as a top-level module)."""
    contents = {name: source.read_bytes() if source else b"" for name, source in PLUGINS.items()}
    digest = hashlib.sha256()
    for name, content in sorted(contents.items()):
        digest.update(name.encode())
        digest.update(content)
    folder = home / "plugins" / digest.hexdigest()[:16]
    if not all((folder / name).exists() for name in PLUGINS):
        for name, content in contents.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            # Several servers may start at once: each writes its own copy, then renames it into place.
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(content)
            tmp.replace(path)
    return folder


def find_python310(explicit: Path | None) -> Path:
    """A Python 3.10 interpreter: the configured one, python3.10 on PATH, or pyenv's 3.10."""
    candidates: list[str] = []
    if explicit is not None:
        candidates.append(str(explicit))
    if found := shutil.which("python3.10"):
        candidates.append(found)
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.10.*/bin/python3.10"), reverse=True)
    candidates.append("/usr/bin/python3.10")
    for candidate in candidates:
        path = Path(candidate)
        if path.exists() and os.access(path, os.X_OK) and _is_python310(path):
            return path
    raise RasaSetupError(
        "Rasa Open Source 3.6 needs Python 3.10 and none was found: install it (e.g. with pyenv) "
        "and set nlu.python in config.yaml or NOTALONE_NLU__PYTHON"
    )


def find_interpreter(explicit: Path | None) -> tuple[Path, Path]:
    """The Python to build Rasa's venv with, and the lock file for it: 3.10 when there is one, else
    this Python when it is 3.11 (Rasa declares <3.11 but runs on it; the install says so)."""
    try:
        return find_python310(explicit), LOCK
    except RasaSetupError:
        if explicit is None and sys.version_info[:2] == (3, 11):
            return Path(sys.executable), LOCK_PY311
        raise


def _is_python310(path: Path) -> bool:
    """True when `path` runs and is CPython 3.10 (a pyenv shim of an unselected version is not)."""
    try:
        done = subprocess.run(
            [str(path), "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.stdout.strip() == "True"


def _run(args: list[str], what: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, cwd=cwd, env=env or rasa_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise RasaSetupError(f"{what} failed (exit {done.returncode}):\n{tail}")


def ensure_venv(home: Path, python: Path | None = None) -> Path:
    """Rasa's venv under `home`, created and installed from the lock file when missing or outdated."""
    venv = home / "venv"
    marker = venv / ".notalone-lock"
    rasa = venv / "bin" / "rasa"
    if rasa.exists() and marker.exists() and marker.read_text() in (_hash(LOCK), _hash(LOCK_PY311)):
        return venv
    interpreter, lock = find_interpreter(python)
    log.warning("installing Rasa into its own venv (a few minutes)", extra={"backend": "rasa"})
    home.mkdir(parents=True, exist_ok=True)
    if venv.exists():
        shutil.rmtree(venv)
    _run([str(interpreter), "-m", "venv", str(venv)], "creating Rasa's venv")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, PIP_CAP], "upgrading pip in Rasa's venv")
    if lock == LOCK_PY311:
        env = {**rasa_env(), "MPLSETUPCFG": str(MPLSETUP)}
        _run([*pip, "--ignore-requires-python", "-r", str(lock)], "installing Rasa (Python 3.11)", env=env)
    else:
        _run([*pip, "-r", str(lock)], "installing Rasa")
    marker.write_text(_hash(lock))
    return venv


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_fingerprint(data_dir: Path, config: Path = CONFIG) -> str:
    """Names a Rasa model by the training data, the pipeline, notalone's component and the lock file
    it was built from (the lexicon too: the data's metadata says what it catches)."""
    digest = hashlib.sha256(
        fingerprint(
            [*data_files(data_dir), TEENCODE_FILE, LEXICON_FILE, *filter(None, PLUGINS.values())]
        ).encode()
    )
    digest.update(config.read_bytes())
    digest.update(LOCK.read_bytes())
    return digest.hexdigest()[:16]


def build_dir(home: Path, data_dir: Path | None, config: Path = CONFIG) -> tuple[Path, str]:
    """Where the Rasa project for this data and pipeline is written, and its fingerprint."""
    fp = model_fingerprint(data_dir or TRAINING_DIR, config)
    return home / "build" / fp, fp


def model_file(home: Path, data_dir: Path | None, config: Path = CONFIG) -> Path:
    """Where the Rasa model for this data and pipeline is (once trained)."""
    _, fp = build_dir(home, data_dir, config)
    return home / "models" / f"notalone-{fp}.tar.gz"


def write_project(home: Path, data_dir: Path | None, config: Path = CONFIG) -> Path:
    """A Rasa project (config, domain, normalised NLU data) for the current training data."""
    project, _ = build_dir(home, data_dir, config)
    examples = load_examples(data_dir or TRAINING_DIR, followups=True)
    write_rasa_nlu(examples, project / "data" / "nlu.yml")
    shutil.copyfile(config, project / "config.yml")
    intents = sorted({e.intent for e in examples})
    (project / "domain.yml").write_text(
        yaml.safe_dump({"version": "3.1", "intents": intents}, sort_keys=False), encoding="utf-8"
    )
    return project


def validate(home: Path, data_dir: Path | None, python: Path | None = None) -> None:
    """`rasa data validate` on the project built from the data (raises RasaSetupError on problems)."""
    venv = ensure_venv(home, python)
    project = write_project(home, data_dir)
    rasa = str(venv / "bin" / "rasa")
    _run(
        [
            rasa,
            "data",
            "validate",
            "--data",
            "data",
            "--domain",
            "domain.yml",
            "--config",
            "config.yml",
            "--fail-on-warnings",
        ],
        "rasa data validate",
        cwd=project,
        env=rasa_env(plugin_dir(home)),
    )


def train(
    home: Path,
    data_dir: Path | None,
    python: Path | None = None,
    *,
    force: bool = False,
    config: Path = CONFIG,
) -> Path:
    """The trained Rasa model for the current data and pipeline, trained first when missing."""
    venv = ensure_venv(home, python)
    project, _ = build_dir(home, data_dir, config)
    model = model_file(home, data_dir, config)
    if model.exists() and not force:
        return model
    write_project(home, data_dir, config)
    log.warning("training the Rasa model (about a minute)", extra={"backend": "rasa"})
    _run(
        [
            str(venv / "bin" / "rasa"),
            "train",
            "nlu",
            "--config",
            "config.yml",
            "--nlu",
            "data",
            "--out",
            str(model.parent),
            "--fixed-model-name",
            model.name.removesuffix(".tar.gz"),
        ],
        "rasa train nlu",
        cwd=project,
        env=rasa_env(plugin_dir(home)),
    )
    return model


def serve_command(home: Path, model: Path, port: int) -> list[str]:
    """The command that serves `model` on 127.0.0.1:`port` with the HTTP API enabled."""
    rasa = str(home / "venv" / "bin" / "rasa")
    return [rasa, "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "-m", str(model)]


def start(home: Path, model: Path, port: int, log_file: Path) -> subprocess.Popen[bytes]:
    """Start a Rasa server in the background (the caller stops it)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        return subprocess.Popen(
            serve_command(home, model, port),
            env=rasa_env(plugin_dir(home)),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
            start_new_session=True,
        )


def serve_forever(home: Path, model: Path, port: int) -> int:
    """Serve in the foreground until interrupted (for `notalone nlu rasa serve`)."""
    print(f"Rasa NLU serving {model.name} on http://127.0.0.1:{port} (Ctrl-C stops it)", file=sys.stderr)
    return subprocess.call(serve_command(home, model, port), env=rasa_env(plugin_dir(home)), cwd=home)
