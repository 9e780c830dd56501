"""Models built by name (torchvision style): ``@register_model(name)`` builders, ``get_model``, ``list_models``."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

import torch.nn as nn

__all__ = ["register_model", "get_model", "list_models", "input_kind"]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_INPUTS: dict[str, str | None] = {}  # per-frame models: what they take (models.inputs: image | landmarks)


def register_model(name: str, input: str | None = None
                   ) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder under ``name``; a per-frame model's builder also says what the model takes (``input``:
    image or landmarks, as its ``InputSpec`` does)."""
    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model '{name}' is registered twice")
        _BUILDERS[name], _INPUTS[name] = fn, input
        return fn

    return wrap


def list_models(include: str | None = None) -> list[str]:
    """Registered names, optionally filtered by a glob (``include="d3ke_*"``)."""
    names = sorted(_BUILDERS)
    return [n for n in names if include is None or fnmatch.fnmatch(n, include)]


def get_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model (the families register on ``d3ke_edge.models``' import); unknown names list the
    choices."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown model '{name}'; choose from {list_models()}")
    return _BUILDERS[name](**kwargs)


def input_kind(name: str) -> str:
    """What a registered per-frame model takes: ``image`` (an RGB crop) or ``landmarks`` (BlazePose's), as its
    builder registered it."""
    if _INPUTS.get(name) is None:
        raise ValueError(f"'{name}' is not a registered per-frame model; choose from "
                         f"{[n for n, k in _INPUTS.items() if k]}")
    return _INPUTS[name]
