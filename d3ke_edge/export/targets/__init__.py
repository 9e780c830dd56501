"""One module per target: ``convert(graph, example, input_names, output_names, path, precision, quant, metadata)``.

``graph`` is a module with positional tensor inputs and a tuple of tensor outputs (``models.graphs``);
``quant`` is the int8 ``QuantPlan`` (calibration inputs and the backbone blocks kept in float), None otherwise.
"""

from __future__ import annotations

import importlib

from ...artefacts import TARGETS

__all__ = ["target_module"]


def target_module(target: str):
    if target not in TARGETS:
        raise ValueError(f"unknown target '{target}'; choose from {', '.join(TARGETS)} or all")
    return importlib.import_module(f"{__name__}.{target}")
