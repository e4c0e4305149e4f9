"""Library chatter (the README: django-q2, WeasyPrint, fontTools, axes) is off below WARNING in every
mode, DEBUG on or off: rendering a PDF in production writes no WeasyPrint/fontTools INFO lines. A
warning still shows, and LOG_LEVEL=DEBUG shows the chatter again (the positive controls)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = ("django-q", "weasyprint", "fontTools", "axes")

# A fresh process configures logging from circletel.settings (a local .env ignored), renders one PDF with
# WeasyPrint, logs one WARNING from each library's logger, and reports the records that reached the root
# handlers from those libraries as JSON on its last line.
CODE = r"""
import json, logging, environ
environ.Env.read_env = classmethod(lambda *a, **k: None)
import django
django.setup()
seen = []
class Catch(logging.Handler):
    def emit(self, record):
        seen.append([record.name.split(".")[0], record.levelname])
logging.getLogger().addHandler(Catch(level=logging.DEBUG))
from weasyprint import HTML
HTML(string="<h1>Invoice</h1><p>R 1,870.59</p>").write_pdf()
for name in %(libraries)r:
    logging.getLogger(name + ".probe").warning("a warning still shows")
print(json.dumps({"seen": seen, "levels": {n: logging.getLevelName(logging.getLogger(n).getEffectiveLevel())
                                            for n in %(libraries)r}}))
"""


def _run(**env_overrides) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "DJANGO_SETTINGS_MODULE": "circletel.settings", "SECRET_KEY": "x" * 50,
           "ALLOWED_HOSTS": "localhost", **env_overrides}
    result = subprocess.run([sys.executable, "-c", CODE % {"libraries": LIBRARIES}], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("debug", ["false", "true"])
def test_libraries_log_only_warnings_in_every_mode(debug):
    out = _run(DEBUG=debug)
    assert out["levels"] == {name: "WARNING" for name in LIBRARIES}
    below = [r for r in out["seen"] if r[1] not in ("WARNING", "ERROR", "CRITICAL")]
    assert below == []  # no INFO/DEBUG line from weasyprint or fontTools for the PDF
    warnings = sorted(name for name, level in out["seen"] if level == "WARNING")
    assert warnings == sorted(LIBRARIES)  # a library's warning still reaches the log


def test_positive_control_log_level_debug_shows_the_pdf_chatter_again():
    out = _run(DEBUG="false", LOG_LEVEL="DEBUG")
    assert out["levels"]["weasyprint"] == "DEBUG"
    assert any(name == "weasyprint" and level in ("INFO", "DEBUG") for name, level in out["seen"])
