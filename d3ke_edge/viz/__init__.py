"""Plots and overlays (matplotlib; imported lazily by the CLI)."""
