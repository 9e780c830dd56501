"""A bank of recorded human motion in our skeleton's coordinates: what the synthetic engine can draw real movement
from instead of hand-made motion families.

``import_bank`` reads every clip under its sources into ``BANK/clips/*.npz`` (coordinates in the skeleton's order,
radians and metres, at one frame rate) with ``BANK/manifest.json|md``: each clip's source, subject, licence,
duration, what was done to it, its split, or the reason it was refused. OpenSim ``.mot``/``.sto`` files are read by
coordinate name (a lab's own IK results are just another source); DeepMimic clips are retargeted onto our skeleton
(``deepmimic.py``), Acclaim ASF/AMC (``acclaim.py``, the CMU database) and C3D marker trials (``c3d_markers.py``,
Plug-in Gait markers) are retargeted onto it (``retarget.py``: our FK fitted to their joint centres or to the markers
ours share, the fit error per clip in the manifest).

Rules, one place (``BankConfig``):
- a rotational coordinate past the skeleton's range by <= ``clamp_deg`` is clamped (an IK solution at a joint's
  limit); past it by more in <= ``excursion_fraction`` of the frames, clamped too and reported (a brief excursion);
  past it by more in more frames, replaced by its default and reported (the source's convention differs, e.g. a
  forearm's pronation measured from another zero); past it anywhere by > ``refuse_deg``, or more than
  ``max_replaced`` coordinates replaced, the clip is refused (wrong units, or an IK that lost the limb);
- the horizontal root path is moved so its span is centred on the origin (where a lab's floor origin lies says
  nothing about the motion); the distance travelled is kept and reported;
- each clip is resampled to ``fps`` and also stored mirrored (the skeleton's mirror map), in the same split;
- the bank hash covers every clip's values and split: a bank of recorded ``.mot`` clips hashes the same on any
  machine; retargeted clips come from a float32 fit whose last digits follow the CPU's kernels, so their hash may
  differ between machines (measured on a Xeon under ATEN_CPU_CAPABILITY avx2 / avx512: the same hash; default:
  another, the coordinates < 0.0001 deg apart and the fit errors equal);
- splits are by trial within each subject (``_assign_splits``), so a trial and its mirror never cross splits, the
  test clips never enter training, and every subject with >= 3 trials is in every split.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..io.mot import MotionFileError, read_mot
from ..skeleton.mirror import derive_mirror
from ..skeleton.model import Skeleton
from ..utils.atomic import atomic_write_text
from .acclaim import ACCLAIM_TO_JOINTS, AMC_FPS, AcclaimError, amc_joint_centres, read_amc, read_asf
from .c3d_markers import C3DError, read_c3d_markers
from .deepmimic import DEEPMIMIC_TO_JOINTS, DeepMimicError, read_deepmimic
from .resample import periodic_coordinates, resample_at
from .retarget import fit_joint_centres

__all__ = ["BankConfig", "BankError", "ClipRecord", "import_bank", "load_manifest", "MOTION_SUFFIXES", "SPLITS",
           "RETARGET_SUFFIXES"]

MOTION_SUFFIXES = (".mot", ".sto")  # already in OpenSim coordinates: read by name
RETARGET_SUFFIXES = {".amc": "Acclaim ASF/AMC", ".c3d": "C3D markers"}  # retargeted onto the skeleton
DEEPMIMIC_SUFFIXES = (".txt", ".json")
LICENCE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING")
SPLITS = ("train", "val", "test")


class BankError(ValueError):
    """Sources that give no bank (nothing found, nothing importable); the message names the problem and the fix."""


@dataclass(frozen=True)
class BankConfig:
    """How clips enter the bank; validated on construction."""

    fps: float = 60.0  # every clip resampled to this rate
    clamp_deg: float = 10.0
    excursion_fraction: float = 0.2
    refuse_deg: float = 45.0
    max_replaced: int = 3
    # a retargeted clip further from its joint centres than this (median, or p90 for the frames it loses) is refused
    max_fit_mm: float = 20.0
    max_fit_p90_mm: float = 60.0
    fit_iterations: int = 500
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    mirror: bool = True

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if not 0 <= self.clamp_deg <= self.refuse_deg:
            raise ValueError(f"need 0 <= clamp_deg <= refuse_deg, got {self.clamp_deg} and {self.refuse_deg}")
        if not (self.max_fit_mm > 0 and self.max_fit_p90_mm > 0) or self.fit_iterations < 1:
            raise ValueError(f"max_fit_mm and max_fit_p90_mm must be > 0 and fit_iterations >= 1, got "
                             f"{self.max_fit_mm}, {self.max_fit_p90_mm}, {self.fit_iterations}")
        if not 0 <= self.excursion_fraction <= 1 or self.max_replaced < 0:
            raise ValueError("excursion_fraction must be in [0, 1] and max_replaced >= 0")
        if not (0 <= self.val_fraction and 0 <= self.test_fraction and self.val_fraction + self.test_fraction < 1):
            raise ValueError(f"val_fraction + test_fraction must be < 1, got {self.val_fraction} + "
                             f"{self.test_fraction}")


@dataclass
class ClipRecord:
    """One source file's line in the manifest."""

    id: str  # file stem in clips/ (the mirrored copy: id + "_mirror")
    path: str  # the source file, relative to its source folder
    source: str
    subject: str
    licence: str
    split: str | None = None
    frames: int = 0
    duration_s: float = 0.0
    source_fps: float = 0.0
    travel_m: float = 0.0
    fit_error_mm: float | None = None  # retargeted: median joint-centre distance; None: recorded in our coordinates
    fit_p90_mm: float | None = None
    unknown_columns: list[str] = field(default_factory=list)
    absent_coordinates: list[str] = field(default_factory=list)  # held at their defaults
    clamped: dict[str, dict] = field(default_factory=dict)  # coordinate -> {frames_pct, max_deg}
    replaced: dict[str, dict] = field(default_factory=dict)  # coordinate -> {frames_pct, max_deg}: set to default
    refused: str | None = None
    present: list[str] = field(default_factory=list, repr=False)  # the skeleton's coordinates the file has


_KNOWN_LICENCES = (("GPL-3.0", ("GPL v3", "GNU GENERAL PUBLIC LICENSE\n *Version 3", "GPL-3.0")),
                   ("Apache-2.0", ("Apache License,? *\n? *Version 2.0",)), ("MIT", ("MIT License",)))


def licence_name(text: str) -> str:
    """A licence file's text -> its SPDX name when it is one we know (GPL-3.0, Apache-2.0, MIT; noted when the
    file adds a term of its own), else its first line with words in it."""

    for spdx, patterns in _KNOWN_LICENCES:
        if any(re.search(p, text, re.IGNORECASE) for p in patterns):
            return spdx + (" with an added term (see the file)" if re.search(r"with the following modification", text, re.I) else "")
    return next((ln.strip()[:80] for ln in text.splitlines() if re.search(r"[A-Za-z]{2}", ln)), "unnamed licence")


def _licence(file: Path, root: Path) -> tuple[Path | None, str]:
    """The licence file nearest ``file`` (its folder, then up to ``root``) -> (the folder holding it: the clip's
    source, the file's name and first line); none -> (None, "unknown ...")."""
    folder = file.parent
    while True:
        for name in LICENCE_NAMES:
            lic = folder / name
            if lic.is_file():
                return folder, f"{folder.name}/{name}: {licence_name(lic.read_text(errors='replace'))}"
        if folder == root or root not in folder.parents:
            return None, "unknown: no licence file beside it or above it (see the source's README)"
        folder = folder.parent


def _assign_splits(records: list[ClipRecord], cfg: BankConfig) -> None:
    """Per subject (source and subject), trials ordered by a stable hash of their path (sha1: the same on every
    machine): the first ``test_fraction`` of them (rounded, >= 1 when the subject has >= 3 trials) to test, the next
    ``val_fraction`` to val, the rest to train — every subject with a few trials is in every split."""
    groups: dict[tuple[str, str], list[ClipRecord]] = {}
    for r in records:
        if not r.refused:
            groups.setdefault((r.source, r.subject), []).append(r)
    for trials in groups.values():
        trials.sort(key=lambda r: hashlib.sha1(f"{r.source}/{r.path}".encode()).hexdigest())
        n = len(trials)
        n_test = max(1, round(n * cfg.test_fraction)) if n >= 3 and cfg.test_fraction > 0 else 0
        n_val = max(1, round(n * cfg.val_fraction)) if n >= 3 and cfg.val_fraction > 0 else 0
        for k, r in enumerate(trials):
            r.split = "test" if k < n_test else "val" if k < n_test + n_val else "train"


def _check_ranges(q: np.ndarray, skel: Skeleton, rec: ClipRecord, cfg: BankConfig) -> np.ndarray:
    """The range rules (module docstring) applied to ``q`` (T, C) radians; fills ``rec``. -> q."""
    ranges, periodic = skel.ranges, periodic_coordinates(skel)
    q = q.copy()
    for i, c in enumerate(skel.coordinates):
        if not c.is_rotational or periodic[i] or c.name not in rec.present:
            continue  # translations and full turns: nothing to clamp
        lo, hi = ranges[i]
        excess = np.degrees(np.maximum(lo - q[:, i], q[:, i] - hi))
        out = excess > 0.05  # a value at the limit up to float rounding is clamped silently
        q[:, i] = np.clip(q[:, i], lo, hi)
        if not out.any():
            continue
        stats = {"frames_pct": round(100 * float(out.mean()), 1), "max_deg": round(float(excess.max()), 1)}
        if excess.max() > cfg.refuse_deg:
            rec.refused = (f"{c.name} is {excess.max():.0f} deg past its range [{np.degrees(lo):.0f}, "
                           f"{np.degrees(hi):.0f}] (more than {cfg.refuse_deg:g}: other units or a lost limb)")
            return q
        if (excess > cfg.clamp_deg).mean() > cfg.excursion_fraction:
            rec.replaced[c.name] = stats
            q[:, i] = skel.defaults[i]
        else:
            rec.clamped[c.name] = stats
    if len(rec.replaced) > cfg.max_replaced:
        rec.refused = (f"{len(rec.replaced)} coordinates are mostly past their ranges ({', '.join(rec.replaced)}): "
                       "the file's conventions differ from the model's")
    return q


def _record(path: Path, root: Path) -> ClipRecord:
    """A clip's manifest line before reading it: its id, source (the folder holding its licence), subject, licence."""
    rel = path.relative_to(root)
    home, licence = _licence(path, root)  # a dataset's folder holds its licence: that folder is the source
    if home is None:  # else what was given, or its first folder when it gathers datasets (some with a licence)
        umbrella = any((d / n).is_file() for d in root.iterdir() if d.is_dir() for n in LICENCE_NAMES)
        home = root / rel.parts[0] if umbrella and len(rel.parts) > 1 else root
    inside = path.relative_to(home).parts
    return ClipRecord(id="__".join((root.name, *rel.with_suffix("").parts)).replace(" ", "_"), path=str(rel),
                      source=home.name, subject=inside[0] if len(inside) > 1 else home.name, licence=licence)


def _finish(rec: ClipRecord, time: np.ndarray, q: np.ndarray, skel: Skeleton,
            cfg: BankConfig) -> np.ndarray | None:
    """The range rules, resampling to ``cfg.fps`` and the centred horizontal path, for any source -> q or None
    (refused; ``rec.refused`` says why)."""
    rec.source_fps = round(float(1.0 / np.median(np.diff(time))), 2)
    q = _check_ranges(q, skel, rec, cfg)
    if rec.refused:
        return None
    q = resample_at(time, q, np.arange(time[0], time[-1] + 1e-9, 1.0 / cfg.fps), periodic_coordinates(skel))
    cnames = skel.coordinate_names
    horizontal = [cnames.index(n) for n in ("pelvis_tx", "pelvis_tz") if n in cnames]
    if horizontal:
        q[:, horizontal] -= (q[:, horizontal].max(0) + q[:, horizontal].min(0)) / 2
        rec.travel_m = round(float(np.linalg.norm(np.ptp(q[:, horizontal], 0))), 2)
    rec.frames, rec.duration_s = len(q), round(len(q) / cfg.fps, 3)
    return q


def _read_mot_clip(path: Path, root: Path, skel: Skeleton, cfg: BankConfig) -> tuple[ClipRecord, np.ndarray | None]:
    """An OpenSim .mot/.sto, read by coordinate name."""
    rec = _record(path, root)
    try:
        table = read_mot(path, skel)
    except MotionFileError as exc:
        rec.refused = str(exc)
        return rec, None
    names = set(skel.coordinate_names)
    rec.unknown_columns = [n for n in table.labels if n not in names and n != "time"]
    rec.present = [n for n in table.labels if n in names]
    if not rec.present:
        rec.refused = f"none of its columns name a coordinate of '{skel.name}' (like {skel.coordinate_names[:3]})"
        return rec, None
    rec.absent_coordinates = [n for n in skel.coordinate_names if n not in rec.present]
    if len(table.time) < 2 or np.any(np.diff(table.time) <= 0):
        rec.refused = "its time column is not strictly increasing over at least two rows"
        return rec, None
    return rec, _finish(rec, table.time, table.to_skeleton_order(skel), skel, cfg)


def _retarget(read: list[tuple[ClipRecord, np.ndarray, dict[str, np.ndarray]]], skel: Skeleton,
              cfg: BankConfig) -> list[tuple[ClipRecord, np.ndarray | None]]:
    """Clips of one source skeleton as (record, time, our joint -> (T, 3) centres), retargeted in one fit
    (``retarget.fit_joint_centres``); a clip the fit cannot follow within ``cfg.max_fit_mm`` (median joint-centre
    distance, or ``max_fit_p90_mm``) is refused with those figures."""
    if not read:
        return []
    clip = np.concatenate([np.full(len(t), k) for k, (_, t, _) in enumerate(read)])
    targets = {n: np.concatenate([j[n] for _, _, j in read]) for n in read[0][2]}
    fit = fit_joint_centres(skel, targets, clip, iterations=cfg.fit_iterations)
    out = []
    for k, (rec, time, _) in enumerate(read):
        err = fit.clip_error(clip == k)
        rec.fit_error_mm, rec.fit_p90_mm = round(err["median_mm"], 1), round(err["p90_mm"], 1)
        rec.present = list(skel.coordinate_names)
        if err["median_mm"] > cfg.max_fit_mm or err["p90_mm"] > cfg.max_fit_p90_mm:
            rec.refused = (f"retargeted joint centres {err['median_mm']:.0f} mm (median) / {err['p90_mm']:.0f} mm (p90) "
                           f"from the clip's, more than {cfg.max_fit_mm:g} / {cfg.max_fit_p90_mm:g}: the fit loses part "
                           "of the motion (a flip, a roll or a get-up leaves the pelvis' ranges)")
            out.append((rec, None))
            continue
        out.append((rec, _finish(rec, time, fit.q[clip == k], skel, cfg)))
    return out


def _read_deepmimic_clips(items: list[tuple[Path, Path]], skel: Skeleton,
                          cfg: BankConfig) -> list[tuple[ClipRecord, np.ndarray | None]]:
    """DeepMimic clips of one character (``deepmimic.py``), retargeted in one fit."""
    out, read = [], []
    for root, path in items:
        rec = _record(path, root)
        try:
            time, joints = read_deepmimic(path)
        except DeepMimicError as exc:
            rec.refused = str(exc)
            out.append((rec, None))
            continue
        read.append((rec, time, {ours: joints[dm] for dm, ours in DEEPMIMIC_TO_JOINTS.items()}))
    return out + _retarget(read, skel, cfg)


ACCLAIM_FIT_FPS = 30.0  # AMC frames (120 Hz) are fitted at this rate: the fit's cost grows with frames


def _read_acclaim_clips(items: list[tuple[Path, Path]], skel: Skeleton,
                        cfg: BankConfig) -> list[tuple[ClipRecord, np.ndarray | None]]:
    """ASF/AMC clips of one subject (the one ``.asf`` beside them, ``acclaim.py``), retargeted in one fit; a folder
    without exactly one ``.asf``, or a clip that cannot be read, is refused with the reason."""
    out, read = [], []
    asfs = sorted(items[0][1].parent.glob("*.asf")) if items else []
    bones, why = None, None
    if len(asfs) != 1:
        why = (f"{len(asfs)} .asf skeleton files beside it in '{items[0][1].parent}'; an AMC motion needs exactly "
               "one, its subject's")
    else:
        try:
            bones = read_asf(asfs[0])
        except AcclaimError as exc:
            why = f"its skeleton cannot be read: {exc}"
    step = max(int(round(AMC_FPS / ACCLAIM_FIT_FPS)), 1)
    for root, path in items:
        rec = _record(path, root)
        if bones is None:
            rec.refused = why
            out.append((rec, None))
            continue
        try:
            ends = amc_joint_centres(bones, read_amc(path, bones))
            missing = [b for b in ACCLAIM_TO_JOINTS if b not in ends]
            if missing:
                raise AcclaimError(f"its skeleton '{asfs[0].name}' has no bones {missing} (not a CMU-style ASF)")
        except AcclaimError as exc:
            rec.refused = str(exc)
            out.append((rec, None))
            continue
        rows = np.arange(0, len(ends["root"]), step)
        if len(rows) < 2:
            rec.refused = f"{len(ends['root'])} frame(s): too short to be a motion"
            out.append((rec, None))
            continue
        read.append((rec, rows / AMC_FPS, {ours: ends[b][rows] for b, ours in ACCLAIM_TO_JOINTS.items()}))
    return out + _retarget(read, skel, cfg)


def _read_c3d_clips(items: list[tuple[Path, Path]], skel: Skeleton,
                    cfg: BankConfig) -> list[tuple[ClipRecord, np.ndarray | None]]:
    """C3D marker clips (``c3d_markers.py``: Plug-in Gait markers named as ours), each retargeted on its own (every
    trial may carry another subject and another subset of markers); a file without the needed markers is refused
    with the markers it lacks."""
    out = []
    for root, path in items:
        rec = _record(path, root)
        try:
            time, markers, left_out = read_c3d_markers(path)
        except C3DError as exc:
            rec.refused = str(exc)
            out.append((rec, None))
            continue
        rec.unknown_columns = left_out
        out += _retarget([(rec, time, markers)], skel, cfg)
    return out


def _files(src: Path) -> tuple[Path, list[Path]]:
    """(the folder clips are named relative to, the motion files under ``src``)."""
    if not src.exists():
        raise BankError(f"source '{src}' does not exist")
    suffixes = (*MOTION_SUFFIXES, *RETARGET_SUFFIXES, *DEEPMIMIC_SUFFIXES)
    if src.is_file():
        if not _is_motion(src):
            raise BankError(f"'{src}' is not a motion file ({', '.join(suffixes)}; DeepMimic clips as .txt/.json)")
        return src.parent, [src]
    return src, sorted(p for p in src.rglob("*") if p.is_file() and _is_motion(p))


def _is_motion(path: Path) -> bool:
    """A file the bank reads: by suffix, and DeepMimic's .txt/.json only when it holds frames (its skeleton file and
    notes do not)."""
    suffix = path.suffix.lower()
    if suffix in DEEPMIMIC_SUFFIXES:
        with open(path, errors="replace") as f:
            return '"Frames"' in f.read(4096)
    return suffix in (*MOTION_SUFFIXES, *RETARGET_SUFFIXES)


def _read_all(found: list[tuple[Path, Path]], skel: Skeleton, cfg: BankConfig,
              say) -> tuple[list[ClipRecord], dict[str, np.ndarray]]:
    """Every file read (.mot by name; the retargeted ones one fit per folder) -> the records, the clips by id."""
    records, clips = [], {}
    groups: dict[tuple[str, Path], list[tuple[Path, Path]]] = {}  # retargeted clips by folder (one skeleton): one fit
    for root, f in found:
        kind = _retarget_kind(f)
        if kind is not None:
            groups.setdefault((kind, f.parent), []).append((root, f))
            continue
        rec, q = _read_mot_clip(f, root, skel, cfg)
        records.append(rec)
        if q is not None:
            clips[rec.id] = q
    readers = {"deepmimic": ("DeepMimic", _read_deepmimic_clips), "acclaim": ("ASF/AMC", _read_acclaim_clips),
               "c3d": ("C3D", _read_c3d_clips)}
    for (kind, folder), items in groups.items():
        label, reader = readers[kind]
        say(f"{folder}: retargeting {len(items)} {label} clip(s) onto the skeleton (one fit)")
        for rec, q in reader(items, skel, cfg):
            records.append(rec)
            if q is not None:
                clips[rec.id] = q
    return records, clips


def import_bank(sources: list[Path], out: Path, skel: Skeleton, cfg: BankConfig = BankConfig(),
                say=print, like: dict | None = None) -> dict:
    """Every motion file under ``sources`` into the bank ``out`` (replaced as a whole, never half-written): clips and
    ``manifest.json|md``. Returns the manifest. A source with no motion file, or nothing importable at all, is a
    ``BankError`` and writes nothing.

    ``like``: the manifest of a bank to rebuild (a model's data manifest) — only the files it imported are read (and
    the rest of their retargeting folders), with its config (``cfg`` is not used), and the result must be that bank
    (its hash), else a ``BankError`` that says what differs, and nothing is written."""
    if like is not None:
        try:
            cfg = BankConfig(**like["config"])
        except (TypeError, ValueError) as exc:
            raise BankError(f"the manifest's settings are not ones this version reads ({exc}); rebuild it with the "
                            "version that made it") from exc
    found = []
    for src in sources:
        root, files = _files(Path(src))
        if not files:
            raise BankError(f"'{src}' holds no motion file ({', '.join((*MOTION_SUFFIXES, *RETARGET_SUFFIXES))}, "
                            "DeepMimic clips)")
        found += [(root, f) for f in files]
    if like is not None:
        found = _as_in(found, like)
    mirror = derive_mirror(skel, strict_markers=False) if cfg.mirror else None
    records, clips = _read_all(found, skel, cfg, say)
    if like is not None:  # what the bank being rebuilt refused stays out (a retargeting folder is read whole)
        refused = {c["path"]: c["refused"] for c in like["clips"] if c["refused"]}
        for rec in records:
            if rec.path in refused and not rec.refused:
                rec.refused = f"refused in the bank being rebuilt: {refused[rec.path]}"
                clips.pop(rec.id, None)
    _assign_splits(records, cfg)
    for rec in records:
        say(f"{rec.path}: " + (f"refused ({rec.refused})" if rec.refused else
                               f"{rec.frames} frames, {rec.split}" + (f", {len(rec.clamped)} clamped" if rec.clamped
                                                                      else "")))
    if not clips:
        raise BankError(f"nothing importable among {len(records)} file(s); the first reason: {records[0].refused}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".bank-", dir=out.parent))
    try:
        (stage / "clips").mkdir()
        digest = hashlib.sha256()
        names = np.array(skel.coordinate_names)
        for cid in sorted(clips):
            q = clips[cid].astype(np.float32)
            copies = {cid: q}
            if mirror is not None:
                import torch

                copies[f"{cid}_mirror"] = mirror.pose(torch.from_numpy(q)).numpy()
            split = next(r.split for r in records if r.id == cid)
            for name, values in copies.items():
                np.savez_compressed(stage / "clips" / f"{name}.npz", q=values, fps=np.float32(cfg.fps),
                                    coordinates=names)
                digest.update(f"{name}:{split}".encode())  # the data and which split it trains or tests
                digest.update(values.tobytes())
        if like is not None:
            _check_same(like, records, digest.hexdigest())
        manifest = _manifest(records, cfg, skel, digest.hexdigest())
        atomic_write_text(stage / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        atomic_write_text(stage / "manifest.md", _markdown(manifest))
        if out.exists():
            shutil.rmtree(out)
        stage.rename(out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return manifest


def _retarget_kind(f: Path) -> str | None:
    """The reader of a file that is retargeted (one fit per folder), None for a .mot/.sto read by name."""
    return {".txt": "deepmimic", ".json": "deepmimic", ".amc": "acclaim", ".c3d": "c3d"}.get(f.suffix.lower())


def _as_in(found: list[tuple[Path, Path]], like: dict) -> list[tuple[Path, Path]]:
    """The files to read to rebuild a manifest's bank, among those found (by their path under the source): the ones
    it imported (all must be there), and the others of their retargeting folders (one fit per folder: the folder's
    other clips shaped it)."""
    listed = {c["path"]: c for c in like["clips"]}
    want = {path for path, c in listed.items() if not c["refused"]}
    rel = {(root, f): str(f.relative_to(root)) for root, f in found}
    missing = sorted(want - set(rel.values()))
    if missing:
        raise BankError(f"{len(missing)} of the {len(want)} files the bank {like['bank_hash'][:16]} was made from are "
                        f"not under the sources given (first: {missing[0]}); give the folder it was made from")
    fitted = {(_retarget_kind(f), f.parent) for (root, f), r in rel.items() if r in want and _retarget_kind(f)}
    return [(root, f) for (root, f), r in rel.items()
            if r in want or (r in listed and (_retarget_kind(f), f.parent) in fitted)]


def _check_same(like: dict, records: list[ClipRecord], digest: str) -> None:
    """The rebuilt bank is the manifest's, or a ``BankError`` naming what differs."""
    if digest == like["bank_hash"]:
        return
    want = {c["id"]: c for c in like["clips"] if not c["refused"]}
    got = {r.id: r for r in records}
    lost = sorted(i for i in want if i not in got or got[i].refused)
    if lost:
        first = lost[0]
        what = (f"{len(lost)} of its clips are refused now (first {first}: {got[first].refused})" if first in got else
                f"{len(lost)} of its clips are not found (first {first}; a clip's name begins with its source "
                "folder's: give the folder under the name it had)")
    else:
        moved = [i for i in want if want[i]["split"] != got[i].split]
        what = (f"{len(moved)} clips fall in another split (first {moved[0]})" if moved else
                "the same clips, their values differ (the source files or the importer changed)")
    raise BankError(f"the rebuilt bank is not {like['bank_hash'][:16]} (got {digest[:16]}): {what}; nothing written")


def _manifest(records: list[ClipRecord], cfg: BankConfig, skel: Skeleton, digest: str) -> dict:
    clips = []
    for r in records:
        d = asdict(r)
        d.pop("present", None)
        d["mirrored"] = bool(cfg.mirror and not r.refused)
        clips.append(d)
    kept = [r for r in records if not r.refused]
    return {"skeleton": skel.name, "skeleton_hash": skel.hash, "fps": cfg.fps, "config": asdict(cfg),
            "bank_hash": digest,
            "summary": {"files": len(records), "imported": len(kept), "refused": len(records) - len(kept),
                        "seconds": {s: round(sum(r.duration_s for r in kept if r.split == s), 1) for s in SPLITS}},
            "clips": clips}


def _markdown(m: dict) -> str:
    s = m["summary"]
    lines = ["# Motion bank", "", f"Skeleton `{m['skeleton']}`, {m['fps']:g} fps, bank hash `{m['bank_hash'][:16]}`. "
             f"{s['imported']} of {s['files']} files imported (each also mirrored), {s['refused']} refused. Seconds "
             "per split (one copy): " + ", ".join(f"{k} {v:g}" for k, v in s["seconds"].items()) + ".", "",
             "| clip | source | subject | split | s | travel m | fit mm (median / p90) | clamped | replaced by default "
             "| licence |", "|---|---|---|---|---|---|---|---|---|---|"]
    for c in m["clips"]:
        if c["refused"]:
            continue
        fmt = lambda d: ", ".join(f"{k} ({v['frames_pct']:g} %, {v['max_deg']:g} deg)" for k, v in d.items())  # noqa: E731
        fit = "recorded" if c["fit_error_mm"] is None else f"{c['fit_error_mm']:g} / {c['fit_p90_mm']:g}"
        lines.append(f"| {c['path']} | {c['source']} | {c['subject']} | {c['split']} | {c['duration_s']:g} | "
                     f"{c['travel_m']:g} | {fit} | {fmt(c['clamped'])} | {fmt(c['replaced'])} | "
                     f"{c['licence'].split(':')[0]} |")
    refused = [c for c in m["clips"] if c["refused"]]
    if refused:
        lines += ["", "## Refused", "", "| file | source | why |", "|---|---|---|"]
        lines += [f"| {c['path']} | {c['source']} | {c['refused']} |" for c in refused]
    return "\n".join(lines) + "\n"


def load_manifest(bank: str | Path) -> dict:
    """A bank's manifest; a folder without one is named."""
    path = Path(bank) / "manifest.json"
    if not path.is_file():
        raise BankError(f"'{bank}' is not a motion bank (no manifest.json); make one with d3ke-edge motions import")
    return json.loads(path.read_text())
