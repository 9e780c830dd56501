"""Points seen by several calibrated cameras -> 3D, robustly: weighted DLT over camera subsets with a pixel gate, and
the per-view left/right labelling that BlazePose sometimes mirrors chosen by the triangulation itself.

All functions are vectorised over frames and points; missing observations are NaN.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .calibration import Camera

__all__ = ["dlt", "triangulate_all", "reprojection_errors", "robust_triangulate", "choose_labelling", "Triangulation",
           "SyncEstimate", "estimate_offsets"]


def dlt(xn: np.ndarray, w: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Weighted linear triangulation. ``xn`` (V, N, 2) undistorted normalised coordinates (NaN: not seen), ``w``
    (V, N) weights (0: ignore), ``P`` (V, 3, 4) [R | t] -> X (N, 3); NaN where fewer than two views have weight."""
    xn = np.asarray(xn, np.float64)
    seen = np.isfinite(xn).all(-1) & (w > 0)
    ww = np.where(seen, w, 0.0)
    x = np.nan_to_num(xn)
    # rows x * P3 - P1 and y * P3 - P2 per view, scaled by the weight: (N, 2V, 4)
    r1 = x[..., 0:1] * P[:, None, 2] - P[:, None, 0]
    r2 = x[..., 1:2] * P[:, None, 2] - P[:, None, 1]
    A = np.concatenate([r1 * ww[..., None], r2 * ww[..., None]], 0).transpose(1, 0, 2)
    _, _, vt = np.linalg.svd(A)
    h = vt[:, -1]
    X = h[:, :3] / np.where(np.abs(h[:, 3:]) > 1e-12, h[:, 3:], np.nan)
    X[seen.sum(0) < 2] = np.nan
    return X


def triangulate_all(cams: list[Camera], xy: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Every view at once (no gate): pixels ``xy`` (V, N, 2) and weights (V, N) -> X (N, 3)."""
    return dlt(np.stack([c.normalise(xy[v]) for v, c in enumerate(cams)]), w, np.stack([c.P for c in cams]))


def reprojection_errors(cams: list[Camera], X: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Pixel distance between each camera's observation ``xy`` (V, N, 2) and the projection of ``X`` (N, 3): (V, N)
    (NaN where either is missing)."""
    return np.stack([np.linalg.norm(c.project(X) - xy[v], axis=-1) for v, c in enumerate(cams)])


@dataclass
class Triangulation:
    points: np.ndarray  # (N, 3) world, metres (NaN: not triangulated)
    used: np.ndarray  # (V, N) bool: the views the point was triangulated from
    errors: np.ndarray  # (V, N) reprojection error (px) in every view that saw the point


def robust_triangulate(cams: list[Camera], xy: np.ndarray, w: np.ndarray, gate_px: float = 25.0,
                       min_views: int = 2) -> Triangulation:
    """Per point, the largest subset of views whose reprojection errors all stay within ``gate_px`` (ties: the
    smallest mean error). Two views agree with each other almost always, so a pair is trusted only when no other
    view saw the point: when other views saw it and disagree the point is left out (NaN; the gap filler bridges
    it). When no subset passes, the pair with the smallest error if the pair are the only views. ``xy`` (V, N, 2)
    pixels, ``w`` (V, N) weights (e.g. BlazePose's visibility)."""
    V, N = xy.shape[:2]
    xn = np.stack([c.normalise(xy[v]) for v, c in enumerate(cams)])
    P = np.stack([c.P for c in cams])
    seen = np.isfinite(xy).all(-1) & (w > 0)
    best_X = np.full((N, 3), np.nan)
    best_used = np.zeros((V, N), bool)
    best_key = np.full((N, 2), np.inf)  # (-views, mean error): smaller is better
    fallback_X, fallback_err, fallback_used = np.full((N, 3), np.nan), np.full(N, np.inf), np.zeros((V, N), bool)
    for k in range(V, min_views - 1, -1):
        for subset in itertools.combinations(range(V), k):
            mask = np.zeros((V, N), bool)
            mask[list(subset)] = True
            mask &= seen
            complete = mask.sum(0) == k
            if not complete.any():
                continue
            X = dlt(xn, np.where(mask, w, 0.0), P)
            err = reprojection_errors(cams, X, xy)
            sub_err = np.where(mask, err, np.nan)
            worst = np.nanmax(np.where(complete, sub_err, np.nan), axis=0, initial=-1.0)
            with np.errstate(invalid="ignore"):
                mean = np.where(complete, np.nansum(np.where(mask, sub_err, 0.0), 0) / max(k, 1), np.inf)
            ok = complete & (worst <= gate_px)
            if k == 2 and V > 2:
                ok &= seen.sum(0) == 2  # a pair only when nobody else saw the point
            key = np.stack([np.full(N, -k, float), mean], -1)
            better = ok & ((key[:, 0] < best_key[:, 0]) | ((key[:, 0] == best_key[:, 0]) & (key[:, 1] < best_key[:, 1])))
            best_X[better], best_used[:, better], best_key[better] = X[better], mask[:, better], key[better]
            if k == min_views:
                fb = complete & (mean < fallback_err) & (seen.sum(0) == k)
                fallback_X[fb], fallback_err[fb], fallback_used[:, fb] = X[fb], mean[fb], mask[:, fb]
    none = ~np.isfinite(best_key[:, 0])
    best_X[none], best_used[:, none] = fallback_X[none], fallback_used[:, none]
    return Triangulation(best_X, best_used, reprojection_errors(cams, best_X, xy))


def choose_labelling(cams: list[Camera], xy: np.ndarray, w: np.ndarray, mirror: np.ndarray,
                     sided: np.ndarray) -> np.ndarray:
    """Which views' left/right labels to mirror, per frame: ``xy`` (T, V, 33, 2), ``w`` (T, V, 33), ``mirror`` the
    landmark permutation that swaps sides, ``sided`` the indices of left/right landmarks. Every combination of
    mirrored views is triangulated (plain weighted DLT) and the one with the smallest median reprojection error over
    the sided landmarks wins; mirroring every view gives the same error (a relabelled person), so of each pair the one
    that keeps more views as BlazePose labelled them is taken. -> (T, V) bool."""
    T, V = xy.shape[:2]
    combos = [np.array(c, bool) for c in itertools.product([False, True], repeat=V) if sum(c) <= V / 2]
    # with half the views mirrored both halves are candidates: keep the one that leaves view 0 alone
    combos = [c for c in combos if sum(c) < V / 2 or not c[0]]
    best = np.zeros((T, V), bool)
    best_err = np.full(T, np.inf)
    for flip in combos:
        pts = np.where(flip[None, :, None, None], xy[:, :, mirror], xy)[:, :, sided]  # (T, V, S, 2)
        ww = np.where(flip[None, :, None], w[:, :, mirror], w)[:, :, sided]
        S = pts.shape[2]
        flat = pts.transpose(1, 0, 2, 3).reshape(V, T * S, 2)
        X = triangulate_all(cams, flat, ww.transpose(1, 0, 2).reshape(V, T * S))
        err = reprojection_errors(cams, X, flat).reshape(V, T, S)
        med = np.nanmedian(np.where(np.isfinite(err), err, np.nan).transpose(1, 0, 2).reshape(T, V * S), axis=1)
        med = np.where(np.isfinite(med), med, np.inf)
        better = med < best_err - 1e-9
        best[better], best_err[better] = flip, med[better]
    return best


def _view_error(cams: list[Camera], xy: np.ndarray, w: np.ndarray, v: int) -> float:
    """Median reprojection error (px) of view ``v`` when all views are triangulated together; ``xy`` (T, V, N, 2)."""
    T, V, N = xy.shape[:3]
    flat = xy.transpose(1, 0, 2, 3).reshape(V, T * N, 2)
    X = triangulate_all(cams, flat, w.transpose(1, 0, 2).reshape(V, T * N))
    err = np.linalg.norm(cams[v].project(X) - flat[v], axis=-1)
    return float(np.nanmedian(err)) if np.isfinite(err).any() else np.inf


def shift_views(offsets: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each array (T, V, ...) with frame ``t`` holding frame ``t + offsets[v]`` of view ``v``, over the frames all
    views have: (T', V, ...) with T' = T - (max(offsets) - min(offsets))."""
    T = arrays[0].shape[0]
    lo, hi = -min(0, int(offsets.min())), T - max(0, int(offsets.max()))
    idx = [np.arange(lo, hi) + int(o) for o in offsets]
    return tuple(np.stack([a[i, v] for v, i in enumerate(idx)], 1) for a in arrays)


@dataclass
class SyncEstimate:
    """Integer frame offsets per view (view 0 is the reference) and how sure the triangulation is of each."""

    found: np.ndarray  # (V,) the offsets that minimised the error, before the confidence rule
    gain: np.ndarray  # (V,) relative drop of the view's median reprojection error from offset 0 to ``found``
    confident: np.ndarray  # (V,) bool
    curves: dict[int, dict[int, float]]  # view -> offset -> median px (the last pass)

    @property
    def offsets(self) -> np.ndarray:
        """(V,) the offsets applied: ``found`` where confident, else 0."""
        return np.where(self.confident, self.found, 0)

    def describe(self, names: list[str]) -> str:
        parts = []
        for v, n in enumerate(names[1:], 1):
            if self.found[v] == 0:
                parts.append(f"{n} 0")
            else:
                parts.append(f"{n} {self.found[v]:+d} ({100 * self.gain[v]:.0f} % less error; "
                             + ("applied)" if self.confident[v] else "not confident: 0 kept)"))
        return ", ".join(parts)


def estimate_offsets(cams: list[Camera], xy: np.ndarray, w: np.ndarray, max_offset: int = 6,
                     rounds: int = 2, min_gain: float = 0.05) -> SyncEstimate:
    """Integer frame offsets per view (view 0 is the reference) that minimise each view's reprojection error: first
    each view against view 0 alone (the pair's epipolar agreement, free of the other views' unknown offsets), then
    ``rounds`` passes of each view against all others. An offset is applied only when it is confident: a minimum
    inside the searched window (one on its edge says the error merely keeps falling: no offset explains the views)
    that lowers the view's median reprojection error by at least ``min_gain`` against no offset; otherwise 0."""
    V = xy.shape[1]
    offsets = np.zeros(V, int)
    curves: dict[int, dict[int, float]] = {}

    def best(v: int, views: list[int], start: np.ndarray) -> int:
        errs = {}
        for s in range(-max_offset, max_offset + 1):
            trial = start.copy()
            trial[v] = s
            x, ww = shift_views(trial, xy, w)
            errs[s] = _view_error([cams[i] for i in views], x[:, views], ww[:, views], views.index(v))
        curves[v] = errs
        return min(errs, key=lambda s: (errs[s], abs(s)))

    for v in range(1, V):
        offsets[v] = best(v, [0, v], offsets)
    for _ in range(rounds):
        for v in range(1, V):
            offsets[v] = best(v, list(range(V)), offsets)
    found = offsets.copy()
    gain = np.zeros(V)
    confident = np.ones(V, bool)
    for v in range(1, V):
        e = curves[v]
        s = int(found[v])
        if s == 0:
            continue
        gain[v] = (e[0] - e[s]) / e[0] if np.isfinite(e[0]) and e[0] > 0 else 0.0
        confident[v] = abs(s) < max_offset and gain[v] >= min_gain
    return SyncEstimate(found, gain, confident, curves)
