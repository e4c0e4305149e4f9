"""Imports point down only (ARCHITECTURE "Layering", issue 14):

    portal -> reservations, usage, payments -> billing -> circletel
    inbox, zoho_sync, notifications -> circletel

Apps above hand their handlers up by registration (`inbox.registry.register` in `AppConfig.ready()`),
never by import. `KNOWN_DEBT` lists the files that still import up, each with the step that removes
it; the test fails on any new upward import, and on a debt entry that is already paid (so the list
only shrinks). Runs in `make check` and `make test`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("circletel", "notifications", "inbox", "zoho_sync", "billing", "payments", "usage", "reservations", "portal")

# What each app may import (besides itself). notifications is the platform's messenger: any app may
# send through it, and it imports only the platform.
ALLOWED = {
    "circletel": set(),
    "notifications": {"circletel"},
    "inbox": {"circletel", "notifications"},
    "zoho_sync": {"circletel", "notifications"},
    "billing": {"circletel", "notifications", "zoho_sync"},
    "payments": {"circletel", "notifications", "zoho_sync", "inbox", "billing"},
    "usage": {"circletel", "notifications", "billing"},
    "reservations": {"circletel", "notifications", "inbox", "billing", "payments"},
    "portal": {"circletel", "notifications", "inbox", "zoho_sync", "billing", "payments", "usage", "reservations"},
}
# The composition root wires every app's URLs and settings together.
EXEMPT = {"circletel/urls.py"}

# (file, imported app): still pointing up, with the step that removes it.
KNOWN_DEBT: set[tuple[str, str]] = set()  # paid off in issue 14; add an entry only with the step that removes it


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found & set(APPS)


def upward_imports(root: Path = ROOT) -> set[tuple[str, str]]:
    found = set()
    for app in APPS:
        for path in sorted((root / app).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if "/migrations/" in rel or rel in EXEMPT:
                continue
            for target in imported_apps(path) - {app} - ALLOWED[app]:
                found.add((rel, target))
    return found


def test_imports_point_down_only():
    found = upward_imports()
    new = sorted(found - KNOWN_DEBT)
    assert not new, f"imports that point up the layers (register handlers from above instead): {new}"


def test_known_debt_is_still_owed():
    paid = sorted(KNOWN_DEBT - upward_imports())
    assert not paid, f"these no longer import up: remove them from KNOWN_DEBT: {paid}"


def test_the_check_fails_on_a_forbidden_import(tmp_path):
    # Positive control for the checker itself: a copy of the layout with one new upward import.
    for app in APPS:
        (tmp_path / app).mkdir()
    (tmp_path / "inbox" / "ok.py").write_text("from circletel.queue import enqueue\n")
    (tmp_path / "inbox" / "bad.py").write_text("from payments.models import PaymentTransaction\n")
    (tmp_path / "billing" / "bad.py").write_text("def f():\n    import reservations.services\n")

    assert upward_imports(tmp_path) == {("inbox/bad.py", "payments"), ("billing/bad.py", "reservations")}
