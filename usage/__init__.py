"""Usage: daily data usage per service (Interstellio sync, manual corrections) and data-cap warnings."""
