"""Models: per-frame D3KE networks (image backbones or BlazePose landmarks + the bounded kinematic head) and causal
temporal heads. As in torchvision, importing this package registers every family's builders (one module per family:
``d3ke``, ``lift``, ``temporal``), so ``get_model(name)`` knows them all."""

from . import d3ke, lift, temporal  # noqa: F401  (each family registers its builders on import)
from .d3ke import D3KE
from .kinematic_space import KinematicSpace
from .lift import D3KELift
from .registry import get_model, list_models, register_model
from .temporal import CausalGRU, CausalTCN, CausalWindowTransformer, CentreFrameTransformer

__all__ = ["D3KE", "D3KELift", "KinematicSpace", "CausalGRU", "CausalTCN", "CausalWindowTransformer",
           "CentreFrameTransformer", "get_model", "list_models", "register_model"]
