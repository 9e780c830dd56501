"""Everyone in a multi-camera recording: BlazePose follows every person in each view (one tracker per person, new
people picked up by the detector as they enter), and the tracks of different views are matched by geometry — two
tracks of one person triangulate to points that reproject onto both within a few pixels, two people metres apart do
not — so each person gets the views that see them.

A view's tracker may jump to the other person where two pass each other, so identity is not taken from the tracks:
each frame's observations are grouped across views by their triangulation error, and the groups are linked over
time in 3D (a person's hips move a few centimetres a frame). Someone who leaves every view and comes back keeps
their identity by their body's proportions (``REID_M``). People are numbered by how much the cameras saw them (most
first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..video.detector import PoseDetector, roi_from_detection
from ..video.landmarks import LANDMARK_NAMES
from ..video.reader import VideoReader
from ..video.tracker import AUTO_TILES, PoseTracker, mirror_order
from .calibration import Camera
from .config import parse_selection
from .refine import segment_lengths
from .triangulate import reprojection_errors, triangulate_all
from .views import ViewLandmarks, close_in_step, frame_landmarks

__all__ = ["Track", "ViewTracks", "track_people", "associate", "Person", "person_views", "frame_errors",
           "select_person", "ASSOCIATION_GATE_PX"]

REDETECT_EVERY = 10  # frames between detector runs that look for people not yet followed
SAME_PERSON_SIDES = 0.3  # two tracks whose hips are closer than this many ROI sides follow one person: one ends
MIN_TRACK_FRAMES = 10  # shorter tracks (a detector's false alarm, a person passing an edge) are dropped
ASSOCIATION_GATE_PX = 40.0  # two views' tracks of one person reproject within this (median over frames and joints)
LINK_M = 0.4  # a person's hips are within this of where their motion so far puts them (walking: ~5 cm a frame)
SURE_PX = 25.0  # a group of views fitting one body within this (worst view, median px) places the person surely
# (the triangulation's own gate; 10-15 px lost the shared trial, whose views fit within 13-20 px before the
# frame offsets are known)
LINK_GAP = 15  # frames a person may go unseen by two views and keep their identity by their motion
# after longer, someone who appears where nobody is expected is the one who left if their body's proportions (the
# median length of each rigid segment) match within this in every segment and no other candidate comes close
REID_M = 0.03

# the joints the association compares (landmarks on the body, not the face or the fingers)
_JOINTS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")


@dataclass
class Track:
    """One person followed through one view: ``xy`` (T, 33, 2) pixels (NaN where not seen), ``visibility``."""

    view: int
    xy: np.ndarray
    visibility: np.ndarray

    @property
    def seen(self) -> np.ndarray:
        return np.isfinite(self.xy[:, 0, 0])


@dataclass
class ViewTracks:
    """Everyone followed in one video."""

    name: str
    path: Path
    tracks: list[Track]
    frames: int
    fps: float
    size: tuple[int, int]  # (width, height), upright

    def as_view(self) -> ViewLandmarks:
        """The video as ``check_views`` sees it (its first track, or nobody), for the checks that the views belong
        together."""
        xy = self.tracks[0].xy if self.tracks else np.full((self.frames, 33, 2), np.nan)
        return ViewLandmarks(self.name, self.path, xy, np.zeros(xy.shape[:2]), self.fps, self.size)


def track_people(path: str | Path, models: dict[str, Path], view: int, tiles: int = 0, max_people: int = 6,
                 advance: Callable[[int], object] | None = None) -> ViewTracks:
    """Every person in one video: the detector (over ``tiles`` overlapping squares; 0: ``AUTO_TILES``) on the first
    frame and every ``REDETECT_EVERY`` frames starts a tracker for each person no tracker follows yet (at most
    ``max_people`` at once); each tracker follows its person
    (``video.tracker.PoseTracker``: the landmarks' ROI, re-detection near the last position when lost); two trackers
    that converge on one person keep the older. Tracks shorter than ``MIN_TRACK_FRAMES`` are dropped."""
    path = Path(path)
    reader = VideoReader(path)
    detector = PoseDetector(models["pose_detection.tflite"])
    trackers: list[PoseTracker] = []
    xys: list[list[np.ndarray]] = []
    vis: list[list[np.ndarray]] = []
    frames = 0
    for t, fr in enumerate(reader):
        frames = t + 1
        alive = [k for k, tr in enumerate(trackers) if tr.roi is not None]
        if t % REDETECT_EVERY == 0 and len(alive) < max_people:
            # tiles: the full-frame detector (224 px for the whole frame) misses people who are small in it
            dets = detector.detect(fr.rgb, tiles=tiles or AUTO_TILES)
            for det in dets:
                roi = roi_from_detection(det)
                followed = any(np.linalg.norm(trackers[k].roi.centre - roi.centre) < 0.5 * trackers[k].roi.side
                               for k in alive)
                if not followed and len(alive) < max_people:
                    tr = PoseTracker(models["pose_detection.tflite"], models["pose_landmark_full.tflite"],
                                     "largest", tiles, fix_swaps=False)
                    tr.roi = roi
                    trackers.append(tr)
                    nan = np.full((33, 2), np.nan)
                    xys.append([nan] * t)
                    vis.append([np.zeros(33)] * t)
                    alive.append(len(trackers) - 1)
        for k, tr in enumerate(trackers):
            frame_xy, frame_vis = frame_landmarks(tr.track(fr.rgb) if (tr.roi is not None or tr.last is not None)
                                                  else None)
            xys[k].append(frame_xy)
            vis[k].append(frame_vis)
        _end_duplicates(trackers, xys, vis, t)
        if advance:
            advance(1)
    close_in_step(reader)
    tracks = [Track(view, np.array(x), np.array(v)) for x, v in zip(xys, vis)]
    return ViewTracks(path.stem, path, [tr for tr in tracks if tr.seen.sum() >= MIN_TRACK_FRAMES], frames,
                      reader.fps, (reader.width, reader.height))


def _end_duplicates(trackers: list, xys: list[list[np.ndarray]], vis: list[list[np.ndarray]], t: int) -> None:
    """Two trackers on one person (a re-detection that found the same body): the younger one's frame is cleared and
    it stops (its ROI and memory dropped, so it does not re-acquire anyone)."""
    for j in range(len(trackers)):
        for k in range(j):
            a, b = xys[k][t], xys[j][t]
            if not (np.isfinite(a[0, 0]) and np.isfinite(b[0, 0])):
                continue
            hips = lambda p: p[_sided_pairs("hip")[0]].mean(0)  # noqa: E731
            side = trackers[k].last.roi.side if trackers[k].last is not None else np.inf
            if np.linalg.norm(hips(a) - hips(b)) < SAME_PERSON_SIDES * side:
                xys[j][t], vis[j][t] = np.full((33, 2), np.nan), np.zeros(33)
                trackers[j].roi, trackers[j].last = None, None


@dataclass
class Person:
    """One person of the recording: per view the track that follows them (None where a view never matched)."""

    tracks: list[Track | None]

    @property
    def views(self) -> list[int]:
        return [v for v, tr in enumerate(self.tracks) if tr is not None]

    def frames_in(self, n_views: int) -> int:
        """Frames where at least ``n_views`` views see this person."""
        seen = np.stack([tr.seen for tr in self.tracks if tr is not None]).sum(0)
        return int((seen >= n_views).sum())


def _joint_index() -> np.ndarray:
    return np.array([i for i, n in enumerate(LANDMARK_NAMES) if n.split("_")[-1] in _JOINTS])


def frame_errors(a: Track, b: Track, ca: Camera, cb: Camera, min_visibility: float = 0.3) -> np.ndarray:
    """Per frame, how well two views' tracks triangulate as one person: the median reprojection error (px) of their
    joints, with ``b``'s left/right labels as given or mirrored, whichever fits (BlazePose mirrors side views).
    -> (T,) px, NaN where either track is absent."""
    both = a.seen & b.seen
    out = np.full(len(both), np.nan)
    if not both.any():
        return out
    J = _joint_index()
    mirror = mirror_order()
    F = int(both.sum())
    for bxy, bvis in ((b.xy, b.visibility), (b.xy[:, mirror], b.visibility[:, mirror])):
        xy = np.stack([a.xy[both][:, J], bxy[both][:, J]]).reshape(2, -1, 2)
        w = np.stack([a.visibility[both][:, J], bvis[both][:, J]]).reshape(2, -1)
        w = np.where(w >= min_visibility, w, 0.0)
        X = triangulate_all([ca, cb], xy, w)
        err = reprojection_errors([ca, cb], X, xy).max(0).reshape(F, len(J))
        with np.errstate(all="ignore"):
            per_frame = np.nanmedian(np.where(np.isfinite(err), err, np.nan), axis=1) if np.isfinite(err).any() \
                else np.full(F, np.nan)
        out[both] = np.fmin(out[both], per_frame)
    return out


def _sided_pairs(*parts: str) -> np.ndarray:
    """(left, right) landmark indices of each body part: their midpoint is where a left/right mirror of the labels
    leaves it."""
    return np.array([[LANDMARK_NAMES.index(f"left_{p}"), LANDMARK_NAMES.index(f"right_{p}")] for p in parts])


def _fit_px(obs: list[Track], cams: list[Camera], t: int) -> float:
    """How well the observations of frame ``t`` (one per view) triangulate as one body: the mirror-proof midpoints of
    the limbs triangulated from all of them, reprojected; the worst view's median error (px)."""
    pairs = _sided_pairs(*_JOINTS)
    xy = np.stack([o.xy[t][pairs].mean(1) for o in obs])  # (V, 6, 2)
    views = [cams[o.view] for o in obs]
    X = triangulate_all(views, xy, np.isfinite(xy[..., 0]).astype(float))
    with np.errstate(all="ignore"):
        worst = np.nanmax(np.nanmedian(reprojection_errors(views, X, xy), axis=1))
    return float(worst) if np.isfinite(worst) else np.inf


class _Motion:
    """A person's hip centre over the frames that placed it surely: where they are expected next (constant velocity
    over the last ``LINK_GAP`` frames, least squares)."""

    def __init__(self, t: int, pos: np.ndarray):
        self.times, self.points = [t], [pos]

    @property
    def last(self) -> int:
        return self.times[-1]

    def add(self, t: int, pos: np.ndarray) -> None:
        self.times.append(t)
        self.points.append(pos)

    def predict(self, t: int) -> np.ndarray:
        ts = np.array(self.times[-LINK_GAP:], float)
        ps = np.array(self.points[-LINK_GAP:])
        if len(ts) < 2:
            return ps[-1]
        slope = np.polyfit(ts - ts[-1], ps, 1)[0]
        return ps[-1] + slope * (t - ts[-1])


def associate(tracks: list[list[Track]], cams: list[Camera], gate_px: float = ASSOCIATION_GATE_PX,
              link_m: float = LINK_M, max_gap: int = LINK_GAP) -> list[Person]:
    """Tracks of every view grouped into people, frame by frame and in 3D — a view's tracker may jump to another
    person where two pass each other, so a track's identity is not trusted across frames:

    1. per frame, the views' observations (one per track that sees the frame) are joined cheapest first when their
       ``frame_errors`` are within ``gate_px``, at most one observation per view in a group;
    2. each group seen by >= 2 views is triangulated (its hips' midpoint) and assigned (Hungarian) to the person
       expected nearest it (``_Motion``: constant velocity over their last sure frames, seen within ``max_gap``
       frames), within ``link_m``; a group that fits one body within ``SURE_PX`` moves that person's expected path
       or, unassigned, starts a new person; one that fits worse (two people crossing) does neither.

    People are returned most observed first (views x frames)."""
    flat = [tr for view in tracks for tr in view]
    if not flat:
        return []
    T = len(flat[0].xy)
    pair_err = {}
    for i, a in enumerate(flat):
        for j in range(i + 1, len(flat)):
            if a.view != flat[j].view:
                pair_err[i, j] = frame_errors(a, flat[j], cams[a.view], cams[flat[j].view])
    hips = _sided_pairs("hip")[0]
    people: list[dict] = []  # "obs": {t: {view: track index}}, "motion": _Motion
    for t in range(T):
        groups = _frame_groups(flat, pair_err, cams, t, gate_px)
        found = []
        for g in groups.values():
            if len(g) < 2:
                continue
            views = sorted(g)
            xy = np.stack([flat[g[v]].xy[t, hips] for v in views])
            X = triangulate_all([cams[v] for v in views], xy, np.ones(xy.shape[:2]))
            if np.isfinite(X).all():
                sure = _fit_px([flat[g[v]] for v in views], cams, t) <= SURE_PX
                found.append((X.mean(0), g, sure))
        # each group to the person expected nearest it (one each), within link_m; a sure group nobody expects is
        # someone new; an unsure one (views of two people passing) moves nobody's expected path
        active = [k for k, p in enumerate(people) if t - p["motion"].last <= max_gap]
        cost = np.array([[np.linalg.norm(people[k]["motion"].predict(t) - pos) for k in active]
                         for pos, _, _ in found]).reshape(len(found), len(active))
        rows, cols = linear_sum_assignment(cost) if cost.size else ([], [])
        matched = {r: active[c] for r, c in zip(rows, cols) if cost[r, c] <= link_m}
        for r, (pos, g, sure) in enumerate(found):
            if r in matched:
                k = matched[r]
                if sure:
                    people[k]["motion"].add(t, pos)
            elif sure:
                people.append({"obs": {}, "motion": _Motion(t, pos)})
                k = len(people) - 1
            else:
                continue
            people[k]["obs"][t] = g
    people = _rejoin(people, flat, cams)
    out = []
    for p in people:
        per_view: dict[int, Track] = {}
        for t, g in p["obs"].items():
            for v, i in g.items():
                tr = per_view.setdefault(v, Track(v, np.full((T, 33, 2), np.nan), np.zeros((T, 33))))
                tr.xy[t], tr.visibility[t] = flat[i].xy[t], flat[i].visibility[t]
        person = Person([per_view.get(v) for v in range(len(cams))])
        if person.frames_in(2) >= MIN_TRACK_FRAMES:
            out.append(person)
    out.sort(key=lambda p: -sum(tr.seen.sum() for tr in p.tracks if tr is not None))
    return out


def _frame_groups(flat: list[Track], pair_err: dict, cams: list[Camera], t: int,
                  gate_px: float) -> dict[int, dict[int, int]]:
    """Frame ``t``'s observations joined across views cheapest first (at most one per view in a group) ->
    {group: {view: track index}}."""
    groups = {i: {flat[i].view: i} for i, tr in enumerate(flat) if tr.seen[t]}
    owner = {i: i for i in groups}
    edges = sorted((e[t], i, j) for (i, j), e in pair_err.items() if np.isfinite(e[t]) and e[t] <= gate_px)
    for _, i, j in edges:
        gi, gj = owner[i], owner[j]
        if gi == gj or set(groups[gi]) & set(groups[gj]):
            continue
        # two views agree with each other almost always (a point near the other's epipolar line); a group is
        # grown only while every one of its views still fits the points all of them triangulate
        if len(groups[gi]) + len(groups[gj]) > 2 and _fit_px(
                [flat[k] for k in (*groups[gi].values(), *groups[gj].values())], cams, t) > gate_px:
            continue
        groups[gi].update(groups.pop(gj))
        for k in groups[gi].values():
            owner[k] = gi
    return groups


def _proportions(obs: dict[int, dict[int, int]], flat: list[Track], cams: list[Camera],
                 frames: int = 30) -> np.ndarray:
    """Median length (m) of each rigid segment (``refine.RIGID_SEGMENTS``) over up to ``frames`` of a person's
    observed frames, each triangulated from the views that saw them (NaN: a segment never seen)."""
    ts = sorted(obs)
    ts = [ts[i] for i in np.linspace(0, len(ts) - 1, min(frames, len(ts))).astype(int)]
    points = []
    for t in ts:
        views = sorted(obs[t])
        xy = np.stack([flat[obs[t][v]].xy[t] for v in views])
        w = np.stack([flat[obs[t][v]].visibility[t] for v in views])
        points.append(triangulate_all([cams[v] for v in views], xy, w))
    lengths = np.stack(list(segment_lengths(np.array(points)).values()), -1) / 1000  # (frames, segments)
    with np.errstate(all="ignore"):
        return np.nanmedian(np.where(np.isfinite(lengths), lengths, np.nan), 0)


def _rejoin(people: list[dict], flat: list[Track], cams: list[Camera], tol_m: float = REID_M) -> list[dict]:
    """People who left every view for longer than the motion link allows and came back started anew; each such
    newcomer is joined to the person who left before they appeared whose body proportions match within ``tol_m`` in
    every segment, when exactly one does (two people alike in build are left apart: a wrong join would mix them)."""
    if len(people) < 2:
        return people
    body = [_proportions(p["obs"], flat, cams) for p in people]
    span = [(min(p["obs"]), max(p["obs"])) for p in people]
    order = sorted(range(len(people)), key=lambda k: span[k][0])
    into = {k: k for k in range(len(people))}  # person -> the person they continue
    for b in order:
        fits = []
        for a in order:
            if a == b or into[a] != a:
                continue  # only the first of a rejoined person's pieces stands for them
            last = max(t for k, h in into.items() if h == a for t in people[k]["obs"])
            if last >= span[b][0]:
                continue  # seen together with (or after) the newcomer: another person
            both = np.isfinite(body[a]) & np.isfinite(body[b])
            if both.sum() >= 4:
                fits.append((float(np.abs(body[a] - body[b])[both].max()), a))
        close = [f for f in fits if f[0] <= tol_m]
        if len(close) == 1:
            a = close[0][1]
            for k, h in into.items():
                if h == b:
                    into[k] = a
    merged: dict[int, dict] = {}
    for k in order:
        head = into[k]
        if head not in merged:
            merged[head] = {"obs": {}, "motion": people[head]["motion"]}
        merged[head]["obs"].update(people[k]["obs"])
    return list(merged.values())


def person_views(person: Person, views: list[ViewTracks]) -> tuple[list[int], list[ViewLandmarks]]:
    """The views that see ``person`` as ``ViewLandmarks`` (what the triangulation takes) -> (view indices, views)."""
    idx = person.views
    return idx, [ViewLandmarks(views[v].name, views[v].path, person.tracks[v].xy, person.tracks[v].visibility,
                               views[v].fps, views[v].size) for v in idx]


def select_person(people: list[Person], spec: str, view_names: list[str]) -> int:
    """The index in ``people`` that ``spec`` (``parse_selection``) names. A point picks the person whose landmarks'
    box holds it (the nearest hips if several) in the first frame view NAME sees each of them; nobody there -> an
    error that lists where each person is in that view."""
    name, choice = parse_selection(spec, view_names)
    if name is None:
        if not 0 <= choice < len(people):
            raise ValueError(f"selection '{spec}': {len(people)} people were matched across views (person0.."
                             f"person{len(people) - 1})")
        return int(choice)
    v = view_names.index(name)
    hips = _sided_pairs("hip")[0]
    where = {}
    for k, person in enumerate(people):
        tr = person.tracks[v]
        if tr is None or not tr.seen.any():
            continue
        xy = tr.xy[int(np.argmax(tr.seen))]
        lo, hi = np.nanmin(xy, 0), np.nanmax(xy, 0)
        hip = np.nanmean(xy[hips], 0)
        where[k] = (bool(np.all((choice >= lo) & (choice <= hi))), float(np.linalg.norm(hip - choice)), hip)
    inside = [k for k, (inside, _, _) in where.items() if inside]
    if not inside:
        seen = "; ".join(f"person{k}'s hips at {w[2][0]:.0f},{w[2][1]:.0f}" for k, w in where.items()) or "nobody"
        raise ValueError(f"selection '{spec}': no matched person covers that pixel in view {name} (first frame each "
                         f"is seen there: {seen})")
    return min(inside, key=lambda k: where[k][1])

