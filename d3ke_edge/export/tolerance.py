"""fp32 parity bounds per output, in the units users read, from a measurement of intrinsic float32 noise.

A frame's bound is ``atol + rtol * max|reference value of that output on that frame|``. What users read gets absolute
bounds in its own unit (angles in degrees, points in mm); the raw ``params`` get a relative one, because their 6D
rotation channels are unbounded (Gram-Schmidt ignores their length) and reach 100-200 on some frames.

Measured (``benchmarks/fp32_noise.py``, results in ``benchmarks/results/fp32_noise.md``): the PyTorch model itself,
against float64, under 1/2 threads, batch 1, oneDNN off, ``ATEN_CPU_CAPABILITY=default`` and
``ONEDNN_MAX_CPU_ISA=SSE41``, on the quickstart checkpoints (AVX2 and the AVX-512 one of ``shared/repro``):
worst params 4.7e-4 of the frame's magnitude, coordinates 9.8e-5 rad (0.0056 deg), markers 0.06 mm, joints 0.04 mm,
scales 1.5e-5, pelvis rotation 1.2e-5. The bounds are about ten times those (a runtime's own kernels add their
rounding on top), and still far below anything a user could see or a wrong artefact could hide under.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Tolerance", "FP32_TOLERANCES", "compare_outputs"]


@dataclass(frozen=True)
class Tolerance:
    atol: float  # in the output's raw unit
    rtol: float  # of the frame's largest |value| of this output
    unit: str  # the unit reported
    factor: float  # raw unit -> reported unit

    def describe(self) -> str:
        parts = [f"{self.atol * self.factor:g} {self.unit}"] if self.atol else []
        if self.rtol:
            parts.append(f"{self.rtol:g} x the frame's max |value|")
        return " + ".join(parts)


FP32_TOLERANCES: dict[str, Tolerance] = {
    "params": Tolerance(atol=1e-5, rtol=5e-3, unit="raw", factor=1.0),
    "refined_params": Tolerance(atol=1e-5, rtol=5e-3, unit="raw", factor=1.0),
    "coordinates": Tolerance(atol=math.radians(0.05), rtol=0.0, unit="deg", factor=180.0 / math.pi),
    "scales": Tolerance(atol=1e-4, rtol=0.0, unit="factor", factor=1.0),
    "pelvis_rot_cam": Tolerance(atol=1e-4, rtol=0.0, unit="matrix element", factor=1.0),
    "joints_rel": Tolerance(atol=5e-4, rtol=0.0, unit="mm", factor=1000.0),
    "markers_rel": Tolerance(atol=5e-4, rtol=0.0, unit="mm", factor=1000.0),
}


def compare_outputs(names, ref: list[np.ndarray], got: list[np.ndarray], frame_ids: list[str] | None = None) -> dict:
    """Per output: max |diff| (raw and in its unit), the bound, the worst frame and its magnitude, and ``ratio``
    (the largest diff / bound over frames: <= 1 passes). Frames are the first axis."""
    out = {}
    for name, r, g in zip(names, ref, got):
        tol = FP32_TOLERANCES[name]
        r = np.asarray(r, np.float64).reshape(len(r), -1)
        g = np.asarray(g, np.float64).reshape(len(r), -1)
        diff = np.abs(g - r).max(1)
        diff = np.where(np.isfinite(diff), diff, np.inf)  # a NaN anywhere fails, and is named
        mag = np.abs(r).max(1)
        ratio = diff / (tol.atol + tol.rtol * mag)
        worst = int(np.argmax(ratio))
        out[name] = {"max_abs_diff": float(diff.max()), "max_diff": float(diff.max() * tol.factor), "unit": tol.unit,
                     "bound": tol.describe(), "ratio": float(ratio.max()), "pass": bool(ratio.max() <= 1.0),
                     "worst_frame": frame_ids[worst] if frame_ids else worst,
                     "worst_frame_magnitude": float(mag[worst]), "median_frame_magnitude": float(np.median(mag))}
    return out
