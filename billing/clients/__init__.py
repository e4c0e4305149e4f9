"""Provider clients used by billing services (one module per provider)."""
