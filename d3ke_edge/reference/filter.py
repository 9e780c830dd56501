"""Zero-lag low-pass filtering of triangulated trajectories (Butterworth, forward and backward, as marker-based
motion capture filters its markers), with short gaps filled first and long ones left empty."""

from __future__ import annotations

import numpy as np

__all__ = ["fill_gaps", "lowpass"]


def fill_gaps(x: np.ndarray, max_gap: int) -> np.ndarray:
    """Cubic-spline interpolation over runs of at most ``max_gap`` missing frames (NaN) in ``x`` (T, ...); longer
    gaps and the ends stay NaN."""
    from scipy.interpolate import CubicSpline

    x = np.array(x, np.float64)
    flat = x.reshape(len(x), -1)
    t = np.arange(len(x))
    for j in range(flat.shape[1]):
        col = flat[:, j]
        ok = np.isfinite(col)
        if ok.sum() < 2 or ok.all():
            continue
        filled = CubicSpline(t[ok], col[ok])(t) if ok.sum() >= 4 else np.interp(t, t[ok], col[ok])
        # the length of the gap each missing frame sits in
        missing = ~ok
        starts = np.flatnonzero(missing & ~np.r_[False, missing[:-1]])
        ends = np.flatnonzero(missing & ~np.r_[missing[1:], False])
        for a, b in zip(starts, ends):
            if a > 0 and b < len(col) - 1 and b - a + 1 <= max_gap:
                col[a : b + 1] = filled[a : b + 1]
    return flat.reshape(x.shape)


def lowpass(x: np.ndarray, fps: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-lag Butterworth low-pass of ``x`` (T, ...) along time, stretch by stretch between NaN gaps (stretches too
    short to filter are kept as they are)."""
    from scipy.signal import butter, filtfilt

    if not 0 < cutoff_hz < fps / 2:
        raise ValueError(f"the cut-off {cutoff_hz} Hz must be within 0..{fps / 2:g} Hz (half the frame rate)")
    b, a = butter(order // 2, cutoff_hz / (fps / 2))  # filtfilt doubles the order
    x = np.array(x, np.float64)
    flat = x.reshape(len(x), -1)
    pad = 3 * max(len(a), len(b))
    for j in range(flat.shape[1]):
        col = flat[:, j]
        ok = np.isfinite(col)
        edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(int), 0]))
        for s, e in zip(edges[::2], edges[1::2]):
            if e - s > pad:
                col[s:e] = filtfilt(b, a, col[s:e])
    return flat.reshape(x.shape)
