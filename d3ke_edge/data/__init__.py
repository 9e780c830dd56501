"""Data: procedural motion (and, later, the synthetic renderer and dataset readers)."""
