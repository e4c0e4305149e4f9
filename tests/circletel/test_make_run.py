"""`make run` (issue 18): a quiet console with the logins last, a clean stop, a local .env for commands.

The first tests are quick unit tests of the pieces (the .env writer, the file email backend, the banner,
the development-only settings). The last two start the real development process set (`make serve`:
honcho with Procfile.dev: runserver, the three django-q2 clusters, the banner) on a free port against a
throwaway SQLite database, wait until the site answers, then stop it as Ctrl-C does (SIGINT to the
terminal's process group) and as `kill` does (SIGTERM to make), and check that every process is gone
within seconds and the output holds no traceback. They skip where `make`, honcho or a local port is
missing, or with SKIP_MAKE_RUN_TEST=1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from circletel.management.commands import dev_banner, dev_env

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


# --- the local .env ------------------------------------------------------------------------------------
def test_dev_env_writes_development_settings_with_a_generated_key(tmp_path):
    target = tmp_path / ".env"
    out = StringIO()
    call_command("dev_env", "--path", str(target), stdout=out)

    parsed = _parse_env(target)
    assert parsed["DEBUG"] == "true"
    assert parsed["DEMO_DATA_ALLOWED"] == "true"
    assert parsed["SANDBOX_GATEWAY_ENABLED"] == "true"
    assert parsed["EMAIL_BACKEND"] == "circletel.dev_email.EmailBackend"
    assert len(parsed["SECRET_KEY"]) >= 50 and parsed["SECRET_KEY"] != dev_env.OLD_DEV_SECRET_KEY
    # The new Fernet key encrypts; the old built-in dev key still reads earlier demo data.
    keys = parsed["FIELD_ENCRYPTION_KEYS"].split(",")
    assert keys[1] == dev_env.fernet_key_from(dev_env.OLD_DEV_SECRET_KEY) and keys[0] != keys[1]
    assert "Wrote" in out.getvalue()
    assert target.stat().st_mode & 0o077 == 0  # a secret: readable by its owner only

    other = tmp_path / "other.env"
    call_command("dev_env", "--path", str(other), stdout=StringIO())
    assert _parse_env(other)["SECRET_KEY"] != parsed["SECRET_KEY"]  # generated, not a constant


def test_dev_env_never_overwrites_an_existing_file(tmp_path):
    target = tmp_path / ".env"
    target.write_text("SECRET_KEY=mine\nDEBUG=false\n")
    out = StringIO()
    call_command("dev_env", "--path", str(target), stdout=out)
    assert target.read_text() == "SECRET_KEY=mine\nDEBUG=false\n"
    assert "left as it is" in out.getvalue()


def test_env_and_var_are_git_ignored():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and "/var/" in ignored


def _parse_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


# --- emails in development ----------------------------------------------------------------------------------
def test_dev_email_backend_saves_an_eml_file_and_logs_one_line(tmp_path, caplog):
    with override_settings(EMAIL_BACKEND="circletel.dev_email.EmailBackend", EMAIL_FILE_PATH=str(tmp_path)):
        with caplog.at_level("INFO", logger="circletel.email"):
            sent = mail.EmailMultiAlternatives(
                "Your invoice INV-0042", "Plain body", "billing@circletel.co.za", ["thandiwe@example.co.za"],
                alternatives=[("<p>HTML body</p>", "text/html")],
            ).send()
    assert sent == 1
    files = list(tmp_path.glob("*.eml"))
    assert len(files) == 1 and "Your-invoice-INV-0042" in files[0].name
    saved = files[0].read_text()
    assert "Subject: Your invoice INV-0042" in saved and "<p>HTML body</p>" in saved
    lines = [r.getMessage() for r in caplog.records if r.name == "circletel.email"]
    assert len(lines) == 1
    assert "thandiwe@example.co.za" in lines[0] and "Your invoice INV-0042" in lines[0]
    assert str(files[0]) in lines[0] or files[0].name in lines[0]
    assert "<p>" not in lines[0] and "\n" not in lines[0]  # one line, not the message


def _settings_in_subprocess(debug: str) -> dict:
    """circletel.settings as a fresh process with that DEBUG sees it (a local .env of the checkout ignored)."""
    code = (
        "import json, environ; environ.Env.read_env = classmethod(lambda *a, **k: None);"
        "import circletel.settings as s;"
        "print(json.dumps({'email': s.EMAIL_BACKEND, 'loggers': s.LOGGING['loggers']}))"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "DEBUG": debug,
           "SECRET_KEY": "x" * 50}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_development_settings_quiet_libraries_and_save_emails_production_unchanged():
    dev = _settings_in_subprocess("true")
    assert dev["email"] == "circletel.dev_email.EmailBackend"
    for name in ("django-q", "weasyprint", "fontTools"):
        assert dev["loggers"][name]["level"] == "WARNING", name

    prod = _settings_in_subprocess("false")  # production keeps its email backend, and libraries are quiet too
    assert prod["email"] == "django.core.mail.backends.console.EmailBackend"
    for name in ("django-q", "weasyprint", "fontTools", "axes"):  # (tests/circletel/test_library_log_levels.py)
        assert prod["loggers"][name]["level"] == "WARNING", name


# --- the banner ------------------------------------------------------------------------------------------------
def test_banner_prints_the_url_and_the_logins_seed_demo_reported(tmp_path):
    seed_log = tmp_path / "seed.log"
    seed_log.write_text("created 3 invoices\nDemo data ready.\n"
                        "  Admin login:    admin@circletel.co.za / circletel-admin   (sign in at /admin/)\n"
                        "  Customer login: thandiwe.nkosi@example.co.za / circletel-demo   (any demo customer)\n")
    out = StringIO()
    # Nothing listens on port 9 (discard): the banner says the site has not answered, and still prints.
    call_command("dev_banner", "--url", "http://127.0.0.1:9", "--seed-log", str(seed_log), "--wait", "0",
                 "--once", stdout=out)
    text = out.getvalue()
    assert "http://127.0.0.1:9/admin/" in text and "has not answered yet" in text
    lines = text.rstrip().splitlines()
    assert "Admin login:    admin@circletel.co.za / circletel-admin" in text
    assert "Customer login: thandiwe.nkosi@example.co.za / circletel-demo" in text
    assert lines[-1].startswith("=")  # the box closes the output: the logins are the last thing printed


def test_banner_without_seed_output_says_how_to_get_logins(tmp_path):
    assert dev_banner.login_lines(tmp_path / "missing.log") == []
    out = StringIO()
    call_command("dev_banner", "--url", "http://127.0.0.1:9/", "--seed-log", str(tmp_path / "missing.log"),
                 "--wait", "0", "--once", stdout=out)
    assert "make seed" in out.getvalue()


# --- the real process set: start, answer, stop cleanly ------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _can_run_processes() -> str | None:
    if os.environ.get("SKIP_MAKE_RUN_TEST"):
        return "SKIP_MAKE_RUN_TEST is set"
    if not shutil.which("make"):
        return "make is not installed"
    if not (VENV_BIN / "honcho").exists():
        return "honcho is not installed (make install-dev)"
    if os.name != "posix":
        return "process groups and signals are POSIX"
    try:
        _free_port()
    except OSError as exc:
        return f"no local port: {exc}"
    return None


_skip = _can_run_processes()
process_set = pytest.mark.skipif(_skip is not None, reason=_skip or "")


@pytest.fixture(scope="module")
def dev_database(tmp_path_factory):
    """A throwaway SQLite database with django-q2's tables and the cache table (all the processes need)."""
    if _skip:
        pytest.skip(_skip)
    base = tmp_path_factory.mktemp("make-run")
    env = _clean_env(base)
    code = ("import django; django.setup(); from django.core.management import call_command;"
            "call_command('migrate', 'django_q', verbosity=0); call_command('createcachetable', verbosity=0)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=180,
                   capture_output=True)
    (base / "dev.env").write_text(dev_env.dev_env_text().replace("EMAIL_FILE_PATH=var/mail",
                                                                 f"EMAIL_FILE_PATH={base / 'mail'}"))
    return base


def _clean_env(base: Path) -> dict[str, str]:
    # Not the test process's environment: circletel.settings_test put DEBUG=false and test keys in it.
    return {
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "DJANGO_SETTINGS_MODULE": "circletel.settings",
        "DEBUG": "true",
        "SECRET_KEY": "make-run-test-" + "k" * 40,
        "DATABASE_URL": f"sqlite:///{base / 'db.sqlite3'}",
        "MEDIA_ROOT": str(base / "media"),
        "PYTHONUNBUFFERED": "1",
    }


def _descendants(root: int) -> set[int]:
    """Every live process whose parent chain leads to root, plus those in the sessions it started."""
    parents: dict[int, int] = {}
    sessions: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        parents[int(entry.name)] = int(fields[1])
        sessions[int(entry.name)] = int(fields[3])
    found = {root} if root in parents else set()
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if pid not in found and (ppid in found or sessions[pid] in found):
                found.add(pid)
                changed = True
    return found


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@process_set
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_make_run_processes_stop_cleanly(dev_database, how, tmp_path):
    port = _free_port()
    # The Stripe stand-in (Procfile.dev `stripe`) on a free port of its own: runs may overlap under xdist.
    env_file = tmp_path / "dev.env"
    env_file.write_text((dev_database / "dev.env").read_text().replace("8765", str(_free_port())))
    log = open(tmp_path / "out.log", "w+b")  # noqa: SIM115 (read back below)
    make = subprocess.Popen(
        ["make", "--no-print-directory", "-o", f"{VENV_BIN.parent}/.installed", "-o", f"{VENV_BIN.parent}/.installed-dev",
         "serve", f"PORT={port}", f"DEV_ENV={env_file}", f"VENV={VENV_BIN.parent}"],
        cwd=ROOT, env=_clean_env(dev_database), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    all_started: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert make.poll() is None, _read(log)
            if _answers(f"http://127.0.0.1:{port}/health/") and b"Ctrl-C stops" in _read_bytes(log):
                break
            time.sleep(0.3)
        else:
            pytest.fail("the site did not answer in 90 s:\n" + _read(log))
        # Let the clusters finish starting (each has its sentinel and workers).
        for _ in range(100):
            all_started = _descendants(make.pid)
            if len(all_started) >= 1 + 1 + 6 + 3 * 4:  # make, honcho, 6 processes, 3 clusters' children
                break
            time.sleep(0.2)
        time.sleep(1)
        all_started = _descendants(make.pid)
        assert len(all_started) >= 10, all_started

        if how == "ctrl-c":
            os.killpg(make.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        else:
            os.kill(make.pid, signal.SIGTERM)  # `kill <pid of make>`
        stopped_at = time.monotonic()
        make.wait(timeout=15)
        while time.monotonic() - stopped_at < 8:
            left = {pid for pid in all_started if Path(f"/proc/{pid}").exists() and not _zombie(pid)}
            if not left:
                break
            time.sleep(0.1)
        took = time.monotonic() - stopped_at
        assert not left, f"still running after {took:.1f} s: {sorted(left)}\n{_read(log)}"
        assert took < 5, f"took {took:.1f} s to stop"
    finally:
        _kill_leftovers(make, all_started)
        out = _read(log)
        log.close()

    assert "Traceback" not in out, out
    assert "Stripe stand-in on http://127.0.0.1:" in out and "Stripe stand-in stopped." in out, out
    assert "Segmentation fault" not in out and "RecursionError" not in out and "Logging error" not in out, out
    assert len(re.findall(r"Q Cluster .* stopping", out)) <= 3, out
    assert "SIGKILL" not in out, out  # each process stopped on the first SIGTERM, none had to be killed
    for name in ("web", "worker", "documents", "zoho", "banner"):  # all that `make run` starts, started
        assert f"{name}.1 started" in out, out
    for name in ("worker", "documents", "zoho", "banner"):  # and left on their own, cleanly
        assert f"{name}.1 stopped (rc=0)" in out, out
    # The banner is the last thing printed before the stop: the URL and the logins stay in view.
    before_stop = out.split("received", 1)[0].rstrip().splitlines()
    assert any(f"http://127.0.0.1:{port}/admin/" in line for line in before_stop[-12:]), out


def _zombie(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _kill_leftovers(make: subprocess.Popen, pids: set[int]) -> None:
    for pid in pids | _descendants(make.pid):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    try:
        make.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _read_bytes(log) -> bytes:
    log.flush()
    log.seek(0)
    return log.read()


def _read(log) -> str:
    return _read_bytes(log).decode(errors="replace")
