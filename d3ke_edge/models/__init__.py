"""Models: per-frame D3KE networks (backbone registry + bounded kinematic head) and temporal heads."""

from .d3ke import D3KE
from .kinematic_space import KinematicSpace
from .registry import get_model, list_models, register_model
from .temporal import CausalGRU, CausalTCN, CausalWindowTransformer, CentreFrameTransformer

__all__ = ["D3KE", "KinematicSpace", "CausalGRU", "CausalTCN", "CausalWindowTransformer", "CentreFrameTransformer",
           "get_model", "list_models", "register_model"]
