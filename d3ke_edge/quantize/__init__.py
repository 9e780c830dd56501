"""int8 quantisation as a config of export: one scheme, a per-block sensitivity pass, and the plan every target applies.

``QuantConfig`` says how (calibration frames, the drift budget, blocks forced to float); ``plan_int8`` measures each
backbone block's effect on the angles with a kernel-independent simulation (torch FX reference quantisation) and
returns a ``QuantPlan``: the calibration frames and the blocks kept in float, which the TFLite, ONNX and TorchScript
converters all honour and every int8 artefact's metadata records.
"""

from .config import QuantConfig
from .sensitivity import QuantPlan, backbone_blocks, plan_int8

__all__ = ["QuantConfig", "QuantPlan", "backbone_blocks", "plan_int8"]
