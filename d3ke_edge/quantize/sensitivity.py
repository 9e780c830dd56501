"""Per-block int8 sensitivity of a per-frame model, measured in a kernel-independent simulation.

The simulation is torch FX *reference* quantisation (quantize/dequantize pairs around float ops): it depends on
no CPU's integer kernels, so the plan it yields is the same on every machine. Its scheme is the most restrictive
one any target needs: activations per tensor, asymmetric, 7 bits (``reduce_range``: what x86 u8*s8 kernels without
VNNI need to never saturate), weights per output channel, symmetric int8. Blocks are the backbone's top-level units
(torchvision's ``features.N``, ResNet's ``layerK.i``); the measure is the mean absolute angle difference from the
fp32 model on the calibration frames, so the parity frames stay an independent check.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from .config import QuantConfig

__all__ = ["QuantPlan", "backbone_blocks", "plan_int8", "simulated_drift", "SIM_QCONFIG"]


def _sim_qconfig():
    from torch.ao.quantization import QConfig
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

    return QConfig(activation=MinMaxObserver.with_args(dtype=torch.quint8, reduce_range=True),
                   weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric))


SIM_QCONFIG = "activations per-tensor affine 7-bit (reduce_range), weights per-channel symmetric int8, min/max"


@dataclass
class QuantPlan:
    """What every int8 converter applies: calibration inputs and the backbone blocks kept in float."""

    calib: list[tuple[torch.Tensor, ...]]
    float_blocks: tuple[str, ...] = ()
    report: dict = field(default_factory=dict)  # the sensitivity pass, for metadata and parity.json

    def metadata(self) -> dict:
        return {"calib_frames": len(self.calib), "float_blocks": list(self.float_blocks), **self.report}


def backbone_blocks(backbone: nn.Module) -> list[str]:
    """The backbone's units as module paths: top-level children with weights; a plain ``nn.Sequential`` of
    several such units (ResNet's ``layerK``, EfficientNet's stages) is split into its members."""
    blocks = []
    for name, child in backbone.named_children():
        if isinstance(child, nn.BatchNorm2d) or not any(True for _ in child.parameters()):
            continue  # parameter-free, or a BatchNorm that folds into the convolution before it
        if type(child) is nn.Sequential and len(child) > 1:
            blocks += [f"{name}.{i}" for i, m in child.named_children() if any(True for _ in m.parameters())]
        else:
            blocks.append(name)
    return blocks


def _simulate(backbone: nn.Module, float_blocks, images: torch.Tensor) -> nn.Module:
    from torch.ao.quantization import QConfigMapping
    from torch.ao.quantization.quantize_fx import convert_to_reference_fx, prepare_fx

    mapping = QConfigMapping().set_global(_sim_qconfig())
    for b in float_blocks:
        mapping.set_module_name(b, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(copy.deepcopy(backbone).eval(), mapping, (images[:1],))
        with torch.no_grad():
            for chunk in images.split(64):
                prepared(chunk)
        return convert_to_reference_fx(prepared)


@torch.no_grad()
def _angles(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Predicted rotational coordinates (N, n) in degrees, as users read them."""
    space = model.space
    rot6d, p, _ = model.encode(images)
    q = space.coordinates(p)[:, space.coord_index]
    rotational = torch.tensor([space.skeleton.coordinates[i].is_rotational for i in space.coord_index.tolist()])
    return torch.rad2deg(q[:, rotational])


def simulated_drift(model: nn.Module, images: torch.Tensor, float_blocks=(), reference: torch.Tensor | None = None,
                    normalised: torch.Tensor | None = None) -> float:
    """Mean |angle(int8 simulation) - angle(fp32)| in degrees with ``float_blocks`` kept in float."""
    if reference is None:
        reference = _angles(model, images)
    normalised = (images - model.mean) / model.std if normalised is None else normalised
    scratch = copy.copy(model)  # a shallow copy whose backbone is swapped; the model itself is not touched
    scratch._modules = dict(model._modules)
    scratch._modules["backbone"] = _simulate(model.backbone, float_blocks, normalised)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notice for quantised tensor creation, once per op
        return float((_angles(scratch, images) - reference).abs().mean())


def plan_int8(model: nn.Module, calib: list[tuple[torch.Tensor, ...]], cfg: QuantConfig,
              say=lambda msg: None) -> QuantPlan:
    """Decide the float blocks: each block quantised alone ranks them, then the most sensitive are kept in float
    one by one until the whole simulated model drifts at most ``cfg.budget_deg`` (or as ``cfg.float_blocks`` says)."""
    t0 = time.perf_counter()
    images = torch.cat([c[0] for c in calib])  # (N, 3, S, S)
    model = model.eval()
    normalised = (images - model.mean) / model.std
    reference = _angles(model, images)
    blocks = backbone_blocks(model.backbone)
    drift = lambda kept: simulated_drift(model, images, kept, reference, normalised)  # noqa: E731
    if cfg.float_blocks is not None:
        unknown = sorted(set(cfg.float_blocks) - set(blocks))
        if unknown:
            raise ValueError(f"float_blocks {unknown} are not blocks of this backbone; its blocks: {', '.join(blocks)}")
        kept = tuple(cfg.float_blocks)
        report = {"decided_by": "configuration", "simulated_drift_deg": drift(kept)}
        return QuantPlan(calib, kept, {"scheme": SIM_QCONFIG, **report, "seconds": time.perf_counter() - t0})
    say(f"int8 sensitivity: {len(blocks)} backbone blocks, {len(images)} calibration frames")
    single = {b: drift([x for x in blocks if x != b]) for b in blocks}  # only block b quantised
    order = sorted(blocks, key=single.get, reverse=True)
    kept: list[str] = []
    steps = [{"float_blocks": [], "simulated_drift_deg": drift(kept)}]
    while steps[-1]["simulated_drift_deg"] > cfg.budget_deg and len(kept) < len(blocks):
        kept.append(order[len(kept)])
        steps.append({"float_blocks": list(kept), "simulated_drift_deg": drift(kept)})
    say(f"int8 sensitivity: all blocks int8 {steps[0]['simulated_drift_deg']:.2f} deg; keeping "
        f"{', '.join(kept) or 'none'} in float -> {steps[-1]['simulated_drift_deg']:.2f} deg (budget {cfg.budget_deg})")
    report = {"scheme": SIM_QCONFIG, "decided_by": "sensitivity", "budget_deg": cfg.budget_deg,
              "single_block_drift_deg": {b: round(v, 4) for b, v in single.items()}, "greedy": steps,
              "simulated_drift_deg": steps[-1]["simulated_drift_deg"], "seconds": round(time.perf_counter() - t0, 1)}
    return QuantPlan(calib, tuple(kept), report)
