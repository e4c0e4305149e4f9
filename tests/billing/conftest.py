"""Billing test fixtures (the shared `queued` fixture lives in tests/conftest.py)."""
