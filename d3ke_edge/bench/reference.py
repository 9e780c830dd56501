"""Single camera against the multi-camera reference (``d3ke-edge reference``): every camera of the trial through
``infer`` with each model, per frame and with its causal head, compared with the reference's OpenSim IK angles in the
same model's coordinates, time-aligned by the reference's frame offsets; MAE, RMSE and bias per coordinate and
Bland-Altman plots.

Each run tracks as a user's would (``infer``'s own choice of person); it is scored against the reference person it
followed, found by its landmarks against each person's own in that view (``match_person``) — the people the
cross-view association kept apart — and the frames where it was on someone else are left out and counted."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..infer.config import FitConfig, InferConfig, describe_fit
from ..infer.run import FirstGuess, InferError, run_infer
from ..reference.calibration import CalibrationError, load_calibration
from ..reference.report import MAIN_ANGLES
from ..skeleton.builtin import builtin_skeleton
from ..skeleton.mirror import derive_mirror
from ..utils.atomic import atomic_write_text
from ..video.tracker import mirror_order
from .agreement import read_angles
from .video_conditions import frame_condition, person_boxes

__all__ = ["COMPARED", "ReferenceTrial", "load_reference", "load_people", "PersonMatch", "match_person", "compare", "bench_reference", "markdown",
           "bland_altman_plot", "robustness_plot"]

COMPARED = tuple(c for pair in MAIN_ANGLES for c in pair)  # the joint angles compared (not the root)


@dataclass
class ReferenceTrial:
    folder: Path
    report: dict
    time: np.ndarray
    angles: dict[str, np.ndarray]  # degrees, the reference model's coordinates


def load_reference(folder: str | Path) -> ReferenceTrial:
    """A ``d3ke-edge reference`` output folder."""
    folder = _one_person(Path(folder))
    files = [folder / "reference.json", folder / "reference.mot"]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"'{folder}' is not a reference folder (missing {missing}); make one with "
                                "d3ke-edge reference --videos ... --calib ... --out DIR")
    report = json.loads(files[0].read_text())
    mot = read_angles(files[1])
    return ReferenceTrial(folder, report, mot.time, {c: v for c, v in mot.values.items() if c in COMPARED})


def _one_person(folder: Path) -> Path:
    """A reference folder, or the folder of everyone (``people.json``) when it holds exactly one person's."""
    people = folder / "people.json"
    if (folder / "reference.json").is_file() or not people.is_file():
        return folder
    made = [p for p in json.loads(people.read_text())["people"] if "error" not in p]
    if len(made) == 1:
        return folder / made[0]["folder"]
    raise FileNotFoundError(f"'{folder}' holds the references of {len(made)} people; give one of them: "
                            + ", ".join(f"{folder / p['folder']} ({', '.join(p['views'])}; {p['frames_in_2_views']} "
                                        "frames in >= 2 views)" for p in made))


def load_people(folder: str | Path) -> list[ReferenceTrial]:
    """Every person's reference in a ``d3ke-edge reference`` output: the folder itself when it is one person's, else
    each person folder ``people.json`` lists as made (most observed first)."""
    folder = Path(folder)
    people = folder / "people.json"
    if (folder / "reference.json").is_file() or not people.is_file():
        return [load_reference(folder)]
    made = [p for p in json.loads(people.read_text())["people"] if "error" not in p]
    if not made:
        raise FileNotFoundError(f"'{folder}' holds no person's reference (people.md says why); remake it")
    return [load_reference(folder / p["folder"]) for p in made]


# A run's landmarks this far from a person's own (as a fraction of the person's height in the frame) are someone else
SAME_PERSON_FRACTION = 0.15


@dataclass
class PersonMatch:
    """Which reference person a single-camera run followed in one camera, by its landmarks against each person's
    own BlazePose landmarks in that view (the reference's ``views.npz``, kept by the cross-view association)."""

    trial: ReferenceTrial | None  # None: the run followed nobody the reference has in this camera
    median_px: float  # the run's landmarks from the person's, median over the frames both have
    same: dict[int, bool]  # video frame -> the run was on this person (frames without landmarks: the last verdict)
    candidates: dict[str, float]  # every person's median distance (px), by folder name

    @property
    def frames_elsewhere(self) -> int:
        return sum(not v for v in self.same.values())


def match_person(frames: list[dict], trials: list[ReferenceTrial], camera: str) -> PersonMatch:
    """The reference person a run (``infer`` frame records with ``landmarks``) followed in ``camera``: the person
    whose own landmarks in that view lie nearest the run's (median over frames of the median landmark distance, under
    either left/right labelling), and
    per frame whether the run was on them (within ``SAME_PERSON_FRACTION`` of their height)."""
    mirror = mirror_order()
    run = {f["frame"]: np.array(f["landmarks"])[:, :2] for f in frames if f.get("landmarks") is not None}
    best, best_px, best_d, cands = None, math.inf, {}, {}
    for trial in trials:
        views = trial.folder / "views.npz"
        if camera not in trial.report["cameras"] or not views.is_file():
            continue
        with np.load(views) as v:
            xy = v["xy"][list(v["names"]).index(camera)]  # (frames of the video, 33, 2)
        dist, height = {}, {}
        for k, pts in run.items():
            if 0 <= k < len(xy) and np.isfinite(xy[k]).all():
                # either labelling: BlazePose mirrors a side view's left and right now and then
                dist[k] = float(min(np.median(np.linalg.norm(p - xy[k], axis=-1)) for p in (pts, pts[mirror])))
                height[k] = float(np.ptp(xy[k][:, 1]))
        if not dist:
            continue
        med = float(np.median(list(dist.values())))
        cands[trial.folder.name] = med
        if med < best_px:
            best, best_px, best_d = trial, med, {k: dist[k] <= SAME_PERSON_FRACTION * height[k] for k in dist}
    if best is None:
        return PersonMatch(None, math.nan, {}, cands)
    same, last = {}, True
    for f in frames:  # a frame without a verdict (no landmarks, or the person unseen there) keeps the last one
        last = best_d.get(f["frame"], last)
        same[f["frame"]] = last
    return PersonMatch(best, best_px, same, cands)


def compare(pred_time: np.ndarray, pred: dict[str, np.ndarray], trial: ReferenceTrial) -> dict[str, dict]:
    """Per coordinate: the reference interpolated at the prediction's (aligned) times, inside its time span ->
    MAE, RMSE, bias (prediction - reference), and the pairs for Bland-Altman plots. Degrees."""
    inside = (pred_time >= trial.time[0]) & (pred_time <= trial.time[-1])
    out = {}
    for c, ref in trial.angles.items():
        if c not in pred:
            continue
        p = pred[c][inside]
        r = np.interp(pred_time[inside], trial.time, ref)
        ok = np.isfinite(p) & np.isfinite(r)
        d = p[ok] - r[ok]
        out[c] = {"mae_deg": float(np.abs(d).mean()) if len(d) else math.nan,
                  "rmse_deg": float(np.sqrt((d**2).mean())) if len(d) else math.nan,
                  "bias_deg": float(d.mean()) if len(d) else math.nan, "frames": int(ok.sum()),
                  "pred": p[ok].tolist(), "ref": r[ok].tolist()}
    return out


def _hfovs_deg(report: dict) -> dict[str, float]:
    """Each calibrated camera's field of view across its long side (a phone knows its own)."""
    path = report["calibration"]
    try:
        cams = load_calibration(path)
    except (OSError, ValueError, CalibrationError) as exc:
        raise FileNotFoundError(f"the reference's calibration '{path}' cannot be read ({exc}); the bench needs each "
                                "camera's field of view from it: put the file back there or remake the reference") from exc
    out = {}
    for cam in cams:
        w, h = cam.size
        f = cam.K[0, 0] if w >= h else cam.K[1, 1]
        out[cam.name] = float(np.degrees(2 * np.arctan(max(w, h) / 2 / f)))
    return out


_MIRRORS: dict[str, object] = {}  # skeleton hash -> its Mirror


def _predictions(res, info: dict, fps: float, mirrored: bool = False,
                 same: dict[int, bool] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Aligned times and the compared angles (deg) of one infer run; ``mirrored``: the run saw a mirrored video, so
    its coordinates are mirrored back (the skeleton's mirror map) — the same as scoring against the mirrored
    reference; ``same``: frame -> the run was on the reference's person (frames on someone else are left out)."""
    import torch

    names = list(res.skeleton.coordinate_names)
    ok = [f for f in res.tracked if same is None or same.get(f["frame"], False)]
    t = np.array([f["time"] for f in ok]) - info["offset_frames"] / fps
    q = np.array([f["outputs"]["coordinates"] for f in ok], dtype=np.float64).reshape(len(ok), len(names))
    if mirrored:  # deriving the map runs FK (~2 s): once per skeleton
        key = res.skeleton.hash
        if key not in _MIRRORS:
            _MIRRORS[key] = derive_mirror(res.skeleton, strict_markers=False)
        q = _MIRRORS[key].pose(torch.from_numpy(q)).numpy()
    return t, {c: np.degrees(q[:, names.index(c)]) for c in COMPARED if c in names}


def mean_mae(per: dict[str, dict]) -> float:
    return float(np.nanmean([v["mae_deg"] for v in per.values()])) if per else math.nan


@dataclass(frozen=True)
class _Run:
    """One infer run of the plan: a camera's video through one model, head and fit setting."""

    camera: str
    c_index: int
    video: Path
    hfov: float
    model: Path
    m_index: int
    head: str
    refine: bool


def _plan(trials: list[ReferenceTrial], models: list[Path], heads: tuple[str, ...], cameras: tuple[str, ...],
          fits: tuple[bool, ...]) -> tuple[list[str], list[_Run]]:
    """The cameras compared and every run, in the order the tables read (``auto`` heads first: without a causal
    head it is the per-frame run, and the ``none`` run of that model is then skipped). Bad settings fail here,
    before hours of runs."""
    known = list(dict.fromkeys(c for t in trials for c in t.report["cameras"]))
    unknown = [c for c in cameras if c not in known]
    if unknown:
        raise ValueError(f"camera(s) {unknown} are not in the reference; it has {', '.join(known)}")
    if not fits:
        raise ValueError("fits must hold False (the network alone), True (with the fit to the image) or both")
    chosen = [c for c in known if not cameras or c in cameras]
    hfovs = _hfovs_deg(trials[0].report)
    videos = {c: v for t in trials for c, v in zip(t.report["cameras"], t.report["videos"])}  # both in video order
    runs = []
    for c_index, cam in enumerate(chosen):
        video = Path(videos[cam])
        if not video.is_file():
            raise FileNotFoundError(f"the reference's video '{video}' is gone; the bench runs infer on it")
        if hfovs.get(cam) is None:
            raise ValueError(f"the reference's calibration has no camera '{cam}'; remake the reference")
        runs += [_Run(cam, c_index, video, hfovs[cam], Path(model), m_index, head, refine)
                 for m_index, model in enumerate(models)
                 for head in sorted(heads, key=lambda h: h == "none") for refine in fits]
    return chosen, runs


class _Bench:
    """Runs the plan: each run through infer, scored against the person it followed, then again under each
    condition; ``rows`` and ``robust`` collect the results."""

    def __init__(self, trials: list[ReferenceTrial], out: Path, heads: tuple[str, ...],
                 cells: list[tuple[str, int]], say: Callable, advance: Callable | None, fit: FitConfig,
                 first_guess: Callable[[str], FirstGuess] | None = None):
        self.trials, self.out, self.heads, self.cells, self.say, self.fit = trials, out, heads, cells, say, fit
        self.first_guess = first_guess
        self.advance = advance or (lambda n: None)
        self.fps = float(trials[0].report["fps"])
        self.rows: list[dict] = []
        self.robust: list[dict] = []
        self.per_frame_done: set[tuple[str, Path, bool]] = set()  # runs whose per-frame result is in (head "auto")

    def infer(self, run: _Run, filt=None):
        work = Path(tempfile.mkdtemp(prefix=".bench-reference-", dir=self.out))
        try:
            return run_infer(InferConfig(video=run.video, model=run.model, out=work, head=run.head, overlay=False,
                                         hfov=run.hfov, refine=run.refine, fit=self.fit), say=lambda m: None,
                              frame_filter=filt, first_guess=self.first_guess(run.camera) if self.first_guess else None)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            self.advance(1)

    def __call__(self, run: _Run) -> None:
        done = (run.camera, run.model, run.refine)
        if run.head == "none" and done in self.per_frame_done:
            self.advance(1 + len(self.cells))  # the model has no causal head: its "auto" run was this one
            return
        res = self.infer(run)
        if res.head is None:
            if done in self.per_frame_done or "none" not in self.heads:
                self.advance(len(self.cells))
                return
            self.per_frame_done.add(done)
        where = "/".join(run.model.resolve().parts[-2:])  # two checkpoints are often both checkpoint_best.pt
        label = (f"{where} ({res.runtime.split(' (')[0]})" + (f" + {res.head}" if res.head else "")
                 + (" + fit" if run.refine else ""))
        match = match_person(res.tracked, self.trials, run.camera)
        if match.trial is None:
            raise ValueError(f"{run.camera}: {label} followed nobody the reference has in this view (each person's "
                             f"landmarks: {match.candidates or 'none in common frames'} px away)")
        trial, info = match.trial, match.trial.report["cameras"][run.camera]
        per = compare(*_predictions(res, info, self.fps, same=match.same), trial)
        self.rows.append({"camera": run.camera, "model": label, "model_path": str(run.model), "head": res.head,
                          "tracked": len(res.tracked) - match.frames_elsewhere, "frames": len(res.frames),
                          "hfov_deg": run.hfov, "person": trial.folder.name, "person_px": round(match.median_px, 1),
                          "frames_on_someone_else": match.frames_elsewhere, "fit": run.refine, "coordinates": per,
                          "_order": (run.c_index, run.m_index, res.head is not None, run.refine)})
        self.say(f"{run.camera} {label}: followed {trial.folder.name} (landmarks {match.median_px:.1f} px from the "
                 f"reference's; {match.frames_elsewhere} frame(s) on someone else, left out): angle MAE "
                 f"{mean_mae(per):.1f} deg over {len(per)} coordinates")
        self.conditions(run, label, trial, info, len(res.frames))

    def conditions(self, run: _Run, label: str, trial: ReferenceTrial, info: dict, frames: int) -> None:
        """The same run on the conditioned video, each condition and severity (nobody found: a result)."""
        boxes = _person_boxes(trial, run.camera) if any(c == "crop" for c, _ in self.cells) else None
        for name, severity in self.cells:
            cond = frame_condition(name, severity, boxes, seed=run.c_index)
            head = {"camera": run.camera, "model": label, "severity": severity, "describe": cond.describe}
            try:
                res = self.infer(run, cond)
            except InferError as exc:
                self.robust.append({**head, "condition": name, "tracked": 0, "frames": frames, "coordinates": {},
                                    "error": str(exc)})
                self.say(f"{run.camera} {label} {name} {severity} ({cond.describe}): no person found")
                continue
            scored = {name: compare(*_predictions(res, info, self.fps, mirrored=name == "hflip"), trial)}
            if name == "hflip":  # what forgetting to mirror the truth would report
                scored["hflip_unmirrored"] = compare(*_predictions(res, info, self.fps), trial)
            self.robust += [{**head, "condition": cname, "tracked": len(res.tracked), "frames": len(res.frames),
                             "coordinates": per} for cname, per in scored.items()]
            self.say(f"{run.camera} {label} {name} {severity} ({cond.describe}): angle MAE "
                     f"{mean_mae(scored[name]):.1f} deg, {len(res.tracked)}/{len(res.frames)} frames tracked")


def bench_reference(reference: str | Path, models: list[Path], out: Path, heads: tuple[str, ...] = ("none", "auto"),
                    say: Callable[[str], object] = print, advance: Callable[[int], object] | None = None,
                    total: Callable[[int], object] | None = None, conditions: tuple[str, ...] = (),
                    severities: tuple[int, ...] = (1, 3, 5), cameras: tuple[str, ...] = (),
                    fits: tuple[bool, ...] = (False, True), fit_config: FitConfig | None = None,
                    first_guess: Callable[[str], FirstGuess] | None = None) -> dict:
    """Every camera x model x head through ``infer`` (``total``/``advance``: that many steps); with ``conditions``
    (``bench.video_conditions``: hflip, resize, crop, brightness, contrast) each run again on the conditioned video
    at each of ``severities`` (scored against the person the clean run followed). ``cameras``: a subset of the
    trial's (default all). ``fits``: each run without and/or with the fit to the image (``infer.fit``; rows
    "+ fit"; ``fit_config``: its settings, default ``FitConfig()``). ``reference``: one person's folder or everyone's
    (``people.json``). Returns (and writes ``reference_bench.json`` / ``.md``, one Bland-Altman plot per model and the
    robustness plot into ``out``) the comparison. ``first_guess(camera)``: that camera's runs replace the network's
    coordinates before the fit (``bench.first_guess``)."""
    trials = load_people(reference)
    cells = [(c, 1) if c == "hflip" else (c, s) for c in conditions for s in ((1,) if c == "hflip" else severities)]
    for c, s in cells:
        frame_condition(c, s, np.zeros((1, 3)))  # names and severities checked before hours of runs
    chosen, runs = _plan(trials, [Path(m) for m in models], heads, cameras, fits)
    out.mkdir(parents=True, exist_ok=True)
    if total:
        total(len(runs) * (1 + len(cells)))
    fit_config = fit_config or FitConfig()
    bench = _Bench(trials, out, heads, cells, say, advance, fit_config, first_guess)
    for run in runs:
        bench(run)
    rows = sorted(bench.rows, key=lambda r: r["_order"])  # per frame before streaming, as the tables read
    for r in rows:
        del r["_order"]
    result = {"reference": str(Path(reference)), "people": [t.folder.name for t in trials], "compared": list(COMPARED),
              "cameras": chosen, "rows": rows, "summary": summarise_rows(rows),
              "baselines": held_pose_baselines(rows, trials), "fit_config": asdict(fit_config)}
    return _write_bench(result, bench.robust, out)


def _write_bench(result: dict, robust: list[dict], out: Path) -> dict:
    """The plots, then ``reference_bench.json`` / ``.md`` (per-frame series left out)."""
    rows, plots = result["rows"], {}
    for label in dict.fromkeys(r["model"] for r in rows):
        png = out / f"bland_altman_{len(plots)}.png"
        bland_altman_plot([r for r in rows if r["model"] == label], label, png)
        plots[label] = png.name
    result["plots"] = plots
    if robust:
        result["robustness"] = _robust_summary(rows, robust)
        robustness_plot(result["robustness"], out / "robustness_reference.png")
        result["robustness_plot"] = "robustness_reference.png"
    slim = {**result, "rows": [_slim(r) for r in rows], "robustness_rows": [_slim(r) for r in robust]}
    atomic_write_text(out / "reference_bench.json", json.dumps(slim, indent=2) + "\n")
    atomic_write_text(out / "reference_bench.md", markdown(slim))
    return slim


def _slim(row: dict) -> dict:
    return {**row, "coordinates": {c: {k: v for k, v in m.items() if k not in ("pred", "ref")}
                                   for c, m in row["coordinates"].items()}}


def _person_boxes(trial: ReferenceTrial, camera: str) -> np.ndarray:
    """The person's per-frame box in ``camera`` from the reference's own BlazePose landmarks (``views.npz``)."""
    path = trial.folder / "views.npz"
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' is missing: the crop condition places its window on the person's box "
                                "from it; remake the reference with this version")

    with np.load(path) as views:
        return person_boxes(views["xy"][list(views["names"]).index(camera)])


def _pooled(rows: list[dict]) -> dict[str, float]:
    """``_pool``'s mean MAE over coordinates (NaN when nothing was compared), and the frames tracked."""
    per = _pool(rows)
    return {"mae_deg": float(np.mean([v["mae_deg"] for v in per.values()])) if per else math.nan,
            "tracked": int(sum(r["tracked"] for r in rows)), "frames": int(sum(r["frames"] for r in rows))}


def _robust_summary(rows: list[dict], robust: list[dict]) -> dict[str, dict]:
    """Per model: the clean pooled MAE and, per condition and severity, the pooled MAE and its change from clean
    (the same cameras)."""
    groups: dict[str, dict[str, list[dict]]] = {}
    for r in robust:
        groups.setdefault(r["model"], {}).setdefault(f"{r['condition']}:{r['severity']}", []).append(r)
    out = {}
    for label, by_cell in groups.items():
        cams = {r["camera"] for same in by_cell.values() for r in same}
        clean = _pooled([r for r in rows if r["model"] == label and r["camera"] in cams])
        cells = {}
        for key, same in by_cell.items():
            p = _pooled(same)
            found = math.isfinite(p["mae_deg"])  # JSON has no NaN: a condition nobody was found under is null
            cells[key] = {"condition": same[0]["condition"], "severity": same[0]["severity"],
                          **p, "mae_deg": p["mae_deg"] if found else None,
                          "delta_deg": p["mae_deg"] - clean["mae_deg"] if found else None,
                          "describe": sorted({x["describe"] for x in same})}
        out[label] = {"clean": clean, "cells": cells}
    return out


def _pool(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per compared coordinate, every row's frames pooled (coordinates no row has: absent): MAE, RMSE, bias; the MAE
    with each row's (camera's) own bias removed (what is left is tracking, not offset); and the correlation with
    the reference over time, the mean of the rows' (None when the prediction does not move: a pose held)."""
    per = {}
    for c in COMPARED:
        pairs = [(np.array(r["coordinates"][c]["pred"]), np.array(r["coordinates"][c]["ref"]))
                 for r in rows if c in r["coordinates"] and len(r["coordinates"][c]["ref"])]
        if not pairs:
            continue
        d = np.concatenate([p - q for p, q in pairs])
        centred = np.concatenate([(p - q) - (p - q).mean() for p, q in pairs])
        rs = [float(np.corrcoef(p, q)[0, 1]) for p, q in pairs if len(p) > 2 and np.std(p) > 1e-9 and np.std(q) > 1e-9]
        per[c] = {"mae_deg": float(np.abs(d).mean()), "rmse_deg": float(np.sqrt((d**2).mean())),
                  "bias_deg": float(d.mean()), "mae_unbiased_deg": float(np.abs(centred).mean()),
                  "corr": float(np.mean(rs)) if rs else None}
    return per


def held_pose_baselines(rows: list[dict], trials: list[ReferenceTrial]) -> dict[str, dict]:
    """What a tracker must beat, on the frames the first model was scored on: the skeleton's default pose held, and
    the trial's own median pose held (an oracle: it knows the person's average pose), as ``summarise_rows`` entries."""
    if not rows:
        return {}
    skel = builtin_skeleton()
    first = [r for r in rows if r["model"] == rows[0]["model"]]
    by_person = {t.folder.name: t for t in trials}
    out = {}
    for label, value in (("default pose, held", lambda c, t: float(np.degrees(skel.defaults[
            skel.coordinate_names.index(c)]))), ("the trial's median pose, held", lambda c, t: float(np.median(
            t.angles[c])))):
        fake = [{**r, "coordinates": {c: {**m, "pred": [value(c, by_person.get(r.get("person"), trials[0]))]
                                          * len(m["ref"])} for c, m in r["coordinates"].items()}} for r in first]
        out[label] = summarise_rows([{**f, "model": label} for f in fake])[label]
    return out


def summarise_rows(rows: list[dict]) -> dict[str, dict]:
    """Per model: MAE and RMSE per coordinate over all cameras' frames pooled, and the mean over coordinates."""
    out = {}
    for label in dict.fromkeys(r["model"] for r in rows):
        per = _pool([r for r in rows if r["model"] == label])
        out[label] = {"coordinates": per, "mae_deg": float(np.mean([v["mae_deg"] for v in per.values()])),
                      "rmse_deg": float(np.mean([v["rmse_deg"] for v in per.values()]))}
    return out


def markdown(result: dict) -> str:
    lines = [f"# Single camera against the multi-camera reference (`{result['reference']}`)", "",
             "Angle error in degrees (prediction - reference), every camera's frames pooled; per camera below."
             + (" " + describe_fit(result["fit_config"]) if "fit_config" in result else ""), ""]
    cols = [c for c in COMPARED if any(c in s["coordinates"] for s in result["summary"].values())]
    lines += ["| model | mean MAE | mean RMSE | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
    for label, s in {**result["summary"], **{f"*{k}*": v for k, v in result.get("baselines", {}).items()}}.items():
        cells = [f"{s['coordinates'][c]['mae_deg']:.1f} / {s['coordinates'][c]['rmse_deg']:.1f}"
                 if c in s["coordinates"] else "" for c in cols]
        lines.append(f"| {label} | {s['mae_deg']:.1f} | {s['rmse_deg']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "(cells: MAE / RMSE; in italics what a tracker must beat: a pose held constant over the trial)", "",
              "Per coordinate: bias (prediction - reference) / MAE with each camera's own bias removed / correlation "
              "with the reference over time (mean over cameras; a held pose does not move: -).", "",
              "| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for label, s in {**result["summary"], **{f"*{k}*": v for k, v in result.get("baselines", {}).items()}}.items():
        cells = []
        for c in cols:
            v = s["coordinates"].get(c)
            cells.append("" if v is None else f"{v['bias_deg']:+.1f} / {v.get('mae_unbiased_deg', math.nan):.1f} / "
                         + ("-" if v.get("corr") is None else f"{v['corr']:.2f}"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["",
              "Per camera: the reference person each run followed (its landmarks' median "
              "distance from that person's own in the view; frames on someone else are left out).", "",
              "| camera | model | person (px) | tracked | mean MAE | mean RMSE |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        m = [v["mae_deg"] for v in r["coordinates"].values()]
        e = [v["rmse_deg"] for v in r["coordinates"].values()]
        who = f"{r['person']} ({r['person_px']:.1f})" if "person" in r else ""
        lines.append(f"| {r['camera']} | {r['model']} | {who} | {r['tracked']}/{r['frames']} | {np.nanmean(m):.1f} | "
                     f"{np.nanmean(e):.1f} |")
    if result.get("robustness"):
        lines += ["", "## Under the test-time conditions, on the real videos", "",
                  f"Cameras {', '.join(sorted({r['camera'] for r in result['robustness_rows']}))}. Mean angle MAE "
                  "(deg) over the compared coordinates, every camera's tracked frames pooled; (change from the clean "
                  "videos; frames tracked). hflip is scored against the mirrored reference, hflip_unmirrored against "
                  "the unmirrored one (the mistake the mirroring avoids).", ""]
        labels = list(result["robustness"])
        lines += ["| condition | severity | what | " + " | ".join(labels) + " |", "|---|---|---|" + "---|" * len(labels)]
        lines.append("| clean | 0 | the videos as recorded | " + " | ".join(
            f"{result['robustness'][m]['clean']['mae_deg']:.1f}" for m in labels) + " |")
        keys = list(dict.fromkeys(k for m in labels for k in result["robustness"][m]["cells"]))
        for key in keys:
            cell = next(result["robustness"][m]["cells"][key] for m in labels if key in result["robustness"][m]["cells"])
            what = "; ".join(cell["describe"]) if cell["condition"] != "crop" else cell["describe"][0].split(" on the")[0]
            vals = []
            for m in labels:
                c = result["robustness"][m]["cells"].get(key)
                if c is None:
                    vals.append("")
                elif c["mae_deg"] is None:
                    vals.append(f"no person found (0/{c['frames']})" if not c["tracked"] else "no frame to compare")
                else:
                    vals.append(f"{c['mae_deg']:.1f} ({c['delta_deg']:+.1f}; {c['tracked']}/{c['frames']})")
            lines.append(f"| {cell['condition']} | {cell['severity']} | {what} | " + " | ".join(vals) + " |")
        if result.get("robustness_plot"):
            lines += ["", f"![robustness]({result['robustness_plot']})"]
    return "\n".join(lines) + "\n"


def bland_altman_plot(rows: list[dict], label: str, png: Path) -> Path:
    """Difference against mean for the main joint angles, all cameras pooled (bias and 95 % limits drawn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("hip flexion", ("hip_flexion_r", "hip_flexion_l")), ("knee", ("knee_angle_r", "knee_angle_l")),
              ("ankle", ("ankle_angle_r", "ankle_angle_l")), ("elbow", ("elbow_flex_r", "elbow_flex_l"))]
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.6))
    cameras = list(dict.fromkeys(r["camera"] for r in rows))
    for ax, (title, coords) in zip(axes, groups):
        for r in rows:
            colour = f"C{cameras.index(r['camera'])}"
            for c, marker in zip(coords, ("o", "x")):  # right, left
                if c in r["coordinates"]:
                    p, q = np.array(r["coordinates"][c]["pred"]), np.array(r["coordinates"][c]["ref"])
                    ax.scatter((p + q) / 2, p - q, s=6, alpha=0.5, color=colour, marker=marker, linewidths=0.7,
                               label=f"{r['camera']} {'right' if marker == 'o' else 'left'}")
        d = np.concatenate([np.array(r["coordinates"][c]["pred"]) - np.array(r["coordinates"][c]["ref"])
                            for r in rows for c in coords if c in r["coordinates"]] or [np.zeros(1)])
        bias, sd = float(d.mean()), float(d.std())
        for y, style in ((bias, "-"), (bias + 1.96 * sd, "--"), (bias - 1.96 * sd, "--")):
            ax.axhline(y, color="k", linestyle=style, linewidth=0.8)
        ax.set_title(f"{title}: bias {bias:+.1f}, LoA +-{1.96 * sd:.1f} deg", fontsize=9)
        ax.set_xlabel("mean of both (deg)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("single camera - reference (deg)")
    axes[0].legend(fontsize=7, markerscale=3)
    fig.suptitle(label, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return png


def robustness_plot(summary: dict[str, dict], png: Path) -> Path:
    """Pooled MAE against severity per condition (0 = clean), one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions = list(dict.fromkeys(c["condition"] for s in summary.values() for c in s["cells"].values()
                                    if c["condition"] != "hflip_unmirrored"))
    fig, axes = plt.subplots(1, len(conditions), figsize=(3.2 * len(conditions), 3.2), sharey=True, squeeze=False)
    for ax, cond in zip(axes[0], conditions):
        for i, (label, s) in enumerate(summary.items()):
            pts = sorted((c["severity"], c["mae_deg"]) for c in s["cells"].values()
                         if c["condition"] == cond and c["mae_deg"] is not None)
            x = [0] + [p[0] for p in pts]
            y = [s["clean"]["mae_deg"]] + [p[1] for p in pts]
            ax.plot(x, y, "o-", color=f"C{i}", label=label, markersize=4)
            if cond == "hflip":
                bad = [c["mae_deg"] for c in s["cells"].values()
                       if c["condition"] == "hflip_unmirrored" and c["mae_deg"] is not None]
                if bad:
                    ax.plot([1], bad, "x", color=f"C{i}", markersize=7)
        ax.set_title(cond + (" (x: truth not mirrored)" if cond == "hflip" else ""), fontsize=9)
        ax.set_xlabel("severity (0 = clean)")
        ax.set_xticks(sorted({0, *(c["severity"] for s in summary.values() for c in s["cells"].values()
                                   if c["condition"] == cond)}))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("angle MAE vs reference (deg)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(len(labels), 4), frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return png
