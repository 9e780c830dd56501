"""The landmark model that ships with the package: what ``infer`` and ``demo serve`` run when no model is given.

``tflite/`` holds the per-frame model (fp32 and int8) and its causal step heads, each with its metadata JSON (the
same export folder layout ``d3ke-edge export`` writes, so every reader of exports reads it); ``parity.json|md`` is
its export parity; ``model_card.json`` says how it was made (recipe, the motion bank's manifest hash, the data's
licences) and what it measured. Remake it with ``export/default_model.sh``.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["DEFAULT_MODEL", "default_model", "model_card"]

DEFAULT_MODEL = Path(__file__).parent
_NEEDED = ("tflite/per_frame_fp32.tflite", "tflite/per_frame_fp32.json", "model_card.json")


def default_model() -> Path:
    """The shipped model's export folder; an install that lost its files is named, not silently replaced."""
    missing = [n for n in _NEEDED if not (DEFAULT_MODEL / n).is_file()]
    if missing:
        raise FileNotFoundError(f"the package's default model is incomplete ({', '.join(missing)} missing in "
                                f"{DEFAULT_MODEL}); reinstall d3ke-edge or give a model of your own")
    return DEFAULT_MODEL


def model_card() -> dict:
    """How the default model was made and what it measured (``model_card.json``)."""
    return json.loads((default_model() / "model_card.json").read_text())
