"""OpenSim ``Function`` types as differentiable, export-friendly PyTorch evaluators.

Each class mirrors one OpenSim function element: it holds its parameters as plain data (parsed from or written
to XML) and evaluates elementwise on a tensor of any shape. Piecewise functions pick their segment with a
comparison count and an index into a constant table, and extrapolate with a clamp plus the end slope, so there
is no data-dependent Python control flow and ``torch.export`` captures them.

The spline coefficients follow the SIMM algorithm that OpenSim's ``SimmSpline`` and ``NaturalCubicSpline`` use
(divided-difference end conditions, linear extrapolation with the end slopes); they are checked against
opensim's own ``calcValue`` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
from xml.etree import ElementTree as ET

import numpy as np
import torch

__all__ = [
    "OsimFunction",
    "Constant",
    "LinearFunction",
    "PolynomialFunction",
    "SimmSpline",
    "NaturalCubicSpline",
    "PiecewiseLinearFunction",
    "PiecewiseConstantFunction",
    "MultiplierFunction",
    "FUNCTION_TYPES",
    "is_identity",
]

_TINY = 1e-7  # OpenSim's TINY_NUMBER guard on knot spacing


def _fmt(values: np.ndarray | list[float] | tuple[float, ...]) -> str:
    return " ".join(repr(float(v)) for v in np.asarray(values, dtype=np.float64).ravel())


class OsimFunction:
    """Base of all supported OpenSim functions of one argument."""

    xml_tag: ClassVar[str] = ""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_xml(self, name: str = "function") -> ET.Element:  # pragma: no cover - abstract
        raise NotImplementedError

    def evaluate(self, x: np.ndarray | float) -> np.ndarray:
        """Evaluate in float64 numpy (convenience for tests and data generation)."""
        return self(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()

    @property
    def is_constant(self) -> bool:
        return False


@dataclass(frozen=True)
class Constant(OsimFunction):
    value: float = 0.0
    xml_tag: ClassVar[str] = "Constant"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x) + self.value

    def to_xml(self, name: str = "function") -> ET.Element:
        el = ET.Element(self.xml_tag, name=name)
        ET.SubElement(el, "value").text = repr(float(self.value))
        return el

    @property
    def is_constant(self) -> bool:
        return True


@dataclass(frozen=True)
class LinearFunction(OsimFunction):
    """OpenSim LinearFunction: ``coefficients = [slope, intercept]``."""

    slope: float = 1.0
    intercept: float = 0.0
    xml_tag: ClassVar[str] = "LinearFunction"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.slope == 1.0 and self.intercept == 0.0:
            return x
        return x * self.slope + self.intercept

    def to_xml(self, name: str = "function") -> ET.Element:
        el = ET.Element(self.xml_tag, name=name)
        ET.SubElement(el, "coefficients").text = _fmt([self.slope, self.intercept])
        return el


@dataclass(frozen=True)
class PolynomialFunction(OsimFunction):
    """OpenSim PolynomialFunction; coefficients from the highest order down to the constant term."""

    coefficients: tuple[float, ...] = (0.0,)
    xml_tag: ClassVar[str] = "PolynomialFunction"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x) + self.coefficients[0]
        for c in self.coefficients[1:]:  # Horner; the loop is over constants, not data
            out = out * x + c
        return out

    def to_xml(self, name: str = "function") -> ET.Element:
        el = ET.Element(self.xml_tag, name=name)
        ET.SubElement(el, "coefficients").text = _fmt(self.coefficients)
        return el


@dataclass(frozen=True)
class _Piecewise(OsimFunction):
    """Shared machinery of knot-based functions: per-segment cubic ``y + dx*(b + dx*(c + dx*d))``."""

    x: tuple[float, ...] = (0.0, 1.0)
    y: tuple[float, ...] = (0.0, 0.0)
    _coef: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        xs = np.asarray(self.x, dtype=np.float64)
        ys = np.asarray(self.y, dtype=np.float64)
        if xs.ndim != 1 or xs.shape != ys.shape:
            raise ValueError(f"{self.xml_tag}: x and y must be 1-D and of equal length, got {xs.shape} and {ys.shape}")
        if len(xs) < self._min_points:
            raise ValueError(f"{self.xml_tag}: needs at least {self._min_points} points, got {len(xs)}")
        if not np.all(np.isfinite(xs)) or not np.all(np.isfinite(ys)):
            raise ValueError(f"{self.xml_tag}: x and y must be finite")
        if np.any(np.diff(xs) <= 0):
            raise ValueError(f"{self.xml_tag}: x values must be strictly increasing, got {xs.tolist()}")
        object.__setattr__(self, "_coef", self._coefficients(xs, ys))

    _min_points: ClassVar[int] = 2

    def _coefficients(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:  # (n, 4): y, b, c, d
        raise NotImplementedError

    def _extrapolates(self) -> bool:
        return True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        coef = torch.as_tensor(self._coef, dtype=x.dtype, device=x.device)  # (n, 4)
        knots = torch.as_tensor(np.asarray(self.x), dtype=x.dtype, device=x.device)  # (n,)
        lo, hi = float(self.x[0]), float(self.x[-1])
        xc = x.clamp(lo, hi)
        # Segment k: number of interior knots at or below x (0 .. n-2).
        k = (xc.unsqueeze(-1) >= knots[1:-1]).sum(-1) if len(self.x) > 2 else torch.zeros_like(xc, dtype=torch.long)
        seg = coef[k]  # (..., 4)
        dx = xc - knots[k]
        inside = seg[..., 0] + dx * (seg[..., 1] + dx * (seg[..., 2] + dx * seg[..., 3]))
        if not self._extrapolates():
            return inside
        slope = torch.where(x < lo, coef[0, 1], torch.where(x > hi, coef[-1, 1], torch.zeros_like(x)))
        return inside + (x - xc) * slope

    def to_xml(self, name: str = "function") -> ET.Element:
        el = ET.Element(self.xml_tag, name=name)
        ET.SubElement(el, "x").text = _fmt(self.x)
        ET.SubElement(el, "y").text = _fmt(self.y)
        return el


def _simm_spline_coefficients(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Cubic spline coefficients as in SIMM: third derivatives at both ends from divided differences."""
    n = len(xs)
    b, c, d = np.zeros(n), np.zeros(n), np.zeros(n)
    if n == 2:
        slope = (ys[1] - ys[0]) / max(_TINY, xs[1] - xs[0])
        return np.stack([ys, np.full(n, slope), c, d], axis=1)
    h = np.maximum(_TINY, np.diff(xs))  # segment widths (n-1)
    d[: n - 1] = h
    dd = np.diff(ys) / h  # first divided differences
    b[1 : n - 1] = 2.0 * (h[:-1] + h[1:])
    c[1 : n - 1] = dd[1:] - dd[:-1]
    b[0], b[n - 1] = -h[0], -h[n - 2]
    if n > 3:
        c0 = c[2] / max(_TINY, xs[3] - xs[1]) - c[1] / max(_TINY, xs[2] - xs[0])
        cn = c[n - 2] / max(_TINY, xs[n - 1] - xs[n - 3]) - c[n - 3] / max(_TINY, xs[n - 2] - xs[n - 4])
        c[0] = c0 * h[0] ** 2 / max(_TINY, xs[3] - xs[0])
        c[n - 1] = -cn * h[n - 2] ** 2 / max(_TINY, xs[n - 1] - xs[n - 4])
    for i in range(1, n):  # tridiagonal forward elimination
        t = d[i - 1] / b[i - 1]
        b[i] -= t * d[i - 1]
        c[i] -= t * c[i - 1]
    c[n - 1] /= b[n - 1]
    for i in range(n - 2, -1, -1):  # back substitution
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i]
    b_out = np.empty(n)
    d_out = np.empty(n)
    b_out[n - 1] = dd[n - 2] + h[n - 2] * (c[n - 2] + 2.0 * c[n - 1])
    b_out[: n - 1] = dd - h * (c[1:] + 2.0 * c[:-1])
    d_out[: n - 1] = (c[1:] - c[:-1]) / h
    d_out[n - 1] = d_out[n - 2]
    return np.stack([ys, b_out, 3.0 * c, d_out], axis=1)


@dataclass(frozen=True)
class SimmSpline(_Piecewise):
    xml_tag: ClassVar[str] = "SimmSpline"

    def _coefficients(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return _simm_spline_coefficients(xs, ys)


@dataclass(frozen=True)
class NaturalCubicSpline(_Piecewise):
    xml_tag: ClassVar[str] = "NaturalCubicSpline"

    def _coefficients(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        return _simm_spline_coefficients(xs, ys)


@dataclass(frozen=True)
class PiecewiseLinearFunction(_Piecewise):
    xml_tag: ClassVar[str] = "PiecewiseLinearFunction"

    def _coefficients(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        slopes = np.diff(ys) / np.diff(xs)
        b = np.append(slopes, slopes[-1])
        zeros = np.zeros_like(ys)
        return np.stack([ys, b, zeros, zeros], axis=1)


@dataclass(frozen=True)
class PiecewiseConstantFunction(_Piecewise):
    """Holds ``y[k]`` on ``[x[k], x[k+1])``, ``y[0]`` below and ``y[-1]`` above the knots."""

    xml_tag: ClassVar[str] = "PiecewiseConstantFunction"
    _min_points: ClassVar[int] = 1

    def _coefficients(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        zeros = np.zeros_like(ys)
        return np.stack([ys, zeros, zeros, zeros], axis=1)

    def _extrapolates(self) -> bool:
        return False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.x) == 1:
            return torch.zeros_like(x) + self.y[0]
        out = super().__call__(x)
        # The last knot belongs to the last value (the clamp puts x >= x[-1] into segment n-2).
        return torch.where(x >= self.x[-1], torch.full_like(x, self.y[-1]), out)


@dataclass(frozen=True)
class MultiplierFunction(OsimFunction):
    """``scale * function(x)``; OpenSim uses it to scale joint translation functions with body size."""

    function: OsimFunction = field(default_factory=Constant)
    scale: float = 1.0
    xml_tag: ClassVar[str] = "MultiplierFunction"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x) * self.scale

    def to_xml(self, name: str = "function") -> ET.Element:
        el = ET.Element(self.xml_tag, name=name)
        ET.SubElement(el, "function").append(self.function.to_xml(name="function"))
        ET.SubElement(el, "scale").text = repr(float(self.scale))
        return el

    @property
    def is_constant(self) -> bool:
        return self.function.is_constant


FUNCTION_TYPES: dict[str, type[OsimFunction]] = {
    cls.xml_tag: cls
    for cls in (
        Constant,
        LinearFunction,
        PolynomialFunction,
        SimmSpline,
        NaturalCubicSpline,
        PiecewiseLinearFunction,
        PiecewiseConstantFunction,
        MultiplierFunction,
    )
}


def is_identity(fn: OsimFunction) -> bool:
    """True for ``LinearFunction(1, 0)``: the axis displacement *is* the coordinate (OpenSim does not scale it)."""
    return isinstance(fn, LinearFunction) and fn.slope == 1.0 and fn.intercept == 0.0
