"""Provider clients used by usage services (one module per provider)."""
