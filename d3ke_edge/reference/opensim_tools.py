"""OpenSim's own tools on the triangulated landmarks: ``ScaleTool`` scales the model to the person from distances
between landmarks on the same segment, ``InverseKinematicsTool`` gives the joint angles (a ``.mot``) and its marker
errors. Their setup files are written into the output folder, so the same run can be opened in OpenSim's GUI.

The model is the built-in skeleton with its BlazePose marker set (``bp_<landmark>``), or any ``.osim`` whose markers
carry BlazePose's landmarks under our names or Pose2Sim's (``Markers_BlazePose.xml``: ``LKnee``, ``RBigToe``, ...).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.trc import MarkerTable, write_trc
from ..utils.atomic import atomic_write_text
from ..video.landmarks import LANDMARK_NAMES

__all__ = ["POSE2SIM_NAMES", "NEUTRAL_PRIOR", "NEUTRAL_WEIGHT", "marker_names_for", "scale_measurements", "run_scale",
           "run_ik", "IKResult", "largest_steps", "write_landmarks"]

# BlazePose landmark -> the marker name in Pose2Sim's Markers_BlazePose.xml (landmarks it does not place: absent)
POSE2SIM_NAMES = {
    "nose": "Nose", "left_eye": "LEye", "right_eye": "REye", "left_shoulder": "LShoulder",
    "right_shoulder": "RShoulder", "left_elbow": "LElbow", "right_elbow": "RElbow", "left_wrist": "LWrist",
    "right_wrist": "RWrist", "left_hip": "LHip", "right_hip": "RHip", "left_knee": "LKnee", "right_knee": "RKnee",
    "left_ankle": "LAnkle", "right_ankle": "RAnkle", "left_foot_index": "LBigToe", "right_foot_index": "RBigToe",
    "left_heel": "LHeel", "right_heel": "RHeel", "left_thumb": "LThumb", "right_thumb": "RThumb",
    "left_pinky": "LPinky", "right_pinky": "RPinky", "left_index": "LIndex", "right_index": "RIndex"}

# IK weights per landmark kind: the joints carry the pose; the face, hands and feet tips are placed less surely
_WEIGHT = {"face": 0.2, "hand": 0.3, "foot": 0.6, "joint": 1.0}


# Coordinates BlazePose's landmarks leave undetermined in some poses: a limb's turn about its own long axis (hip,
# humerus, forearm: free while the knee or elbow is straight) and the foot's small joints (two landmarks on the foot).
# Unheld, IK let them jump to their limits on the Pose2Sim trial (humeral rotation 109 deg within a frame, the elbow
# pinned at 0 for 0.2 s). IK holds them weakly to the model's default value: at weight 1e-4 a 1-rad departure costs as
# much as 1 cm of error on a joint landmark (weight 1), so the landmarks still win wherever they determine them.
NEUTRAL_PRIOR = ("hip_rotation", "arm_rot", "pro_sup", "subtalar_angle", "mtp_angle")
NEUTRAL_WEIGHT = 1e-4


def write_landmarks(table: MarkerTable, path: Path) -> tuple[Path, list[int]]:
    """The ``.trc`` OpenSim's tools read: ``table`` as it is, except frames where no
    landmark at all is known, which are bridged by linear interpolation of each landmark between the nearest frames
    that have it (held at the ends). OpenSim's IK stops on such a frame (its marker goal is NaN), while a frame with
    some landmarks missing is fine (those markers are left out of that frame). -> (path, the bridged frame indices)."""
    pos = np.array(table.positions, np.float64)
    known = np.isfinite(pos).all(-1)  # (T, M)
    empty = np.flatnonzero(~known.any(1))
    if len(empty) and known.any():
        t = np.arange(len(pos))
        for m in range(pos.shape[1]):
            have = known[:, m]
            if have.any():
                for k in range(3):
                    pos[empty, m, k] = np.interp(empty, t[have], pos[have, m, k])
    return write_trc(MarkerTable(table.time, list(table.names), pos), path), [int(i) for i in empty]


def _kind(name: str) -> str:
    part = name.removeprefix("left_").removeprefix("right_")
    if part in ("pinky", "index", "thumb"):
        return "hand"
    if part in ("heel", "foot_index"):
        return "foot"
    if part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        return "joint"
    return "face"


def marker_names_for(model_markers: list[str]) -> dict[str, str]:
    """BlazePose landmark -> the model's marker name, for the landmarks the model carries (ours or Pose2Sim's)."""
    have = set(model_markers)
    out = {}
    for n in LANDMARK_NAMES:
        for cand in (f"bp_{n}", POSE2SIM_NAMES.get(n)):
            if cand in have:
                out[n] = cand
                break
    if len([n for n in out if _kind(n) == "joint"]) < 10:
        raise ValueError(f"the model carries only {sorted(out)} of BlazePose's landmarks as markers; give an .osim "
                         "with a BlazePose marker set (bp_<landmark> or Pose2Sim's Markers_BlazePose.xml names)")
    return out


def scale_measurements(names: dict[str, str], bodies: list[str]) -> list[tuple[str, list[tuple[str, str]], list[str]]]:
    """(measurement, marker pairs, bodies it scales) from landmark pairs on the same segments, for the bodies the
    model has (our body names and the gait2392/Rajagopal family's)."""
    def pairs(*ps):
        return [(names[a], names[b]) for a, b in ps if a in names and b in names]

    specs = []
    for s, side in (("r", "right"), ("l", "left")):
        specs += [
            (f"thigh_{s}", pairs((f"{side}_hip", f"{side}_knee")), [f"femur_{s}"]),
            (f"shank_{s}", pairs((f"{side}_knee", f"{side}_ankle")), [f"tibia_{s}", f"talus_{s}"]),
            (f"foot_{s}", pairs((f"{side}_heel", f"{side}_foot_index")), [f"calcn_{s}", f"toes_{s}"]),
            (f"upper_arm_{s}", pairs((f"{side}_shoulder", f"{side}_elbow")), [f"humerus_{s}"]),
            (f"forearm_{s}", pairs((f"{side}_elbow", f"{side}_wrist")), [f"ulna_{s}", f"radius_{s}", f"hand_{s}"]),
        ]
    specs += [("pelvis", pairs(("left_hip", "right_hip")), ["pelvis"]),
              ("torso", pairs(("left_shoulder", "left_hip"), ("right_shoulder", "right_hip")), ["torso"]),
              ("head", pairs(("left_ear", "right_ear"), ("left_eye", "right_eye")), ["head"])]
    have = set(bodies)
    return [(m, p, [b for b in bs if b in have]) for m, p, bs in specs if p and any(b in have for b in bs)]


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _fields(parent: ET.Element, **values: str) -> None:
    """Text elements in the given order (OpenSim's setup files are order-sensitive only within lists)."""
    for tag, text in values.items():
        _sub(parent, tag, text)


def _span(time_range: tuple[float, float]) -> str:
    return f" {time_range[0]:.6f} {time_range[1]:.6f}"


def _write_xml(root: ET.Element, path: Path) -> Path:
    ET.indent(root)
    doc = ET.Element("OpenSimDocument", Version="40000")
    doc.append(root)
    ET.indent(doc)
    return atomic_write_text(path, '<?xml version="1.0" encoding="UTF-8" ?>\n' + ET.tostring(doc, encoding="unicode")
                             + "\n")


@contextmanager
def _inside(folder: Path):
    """OpenSim's tools resolve some paths against the working directory: run them from the output folder."""
    import os

    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _rel(path: Path, folder: Path) -> str:
    """OpenSim reads a setup file's paths relative to the setup file's folder."""
    import os

    return os.path.relpath(Path(path).resolve(), Path(folder).resolve())


def _run_tool(tool_class, root: ET.Element, setup: Path) -> None:
    """Write an OpenSim tool's setup file and run the tool on it from its folder; a failed run is an error. The setup
    path is made absolute first: a relative one would be read against the folder the tool is run from."""
    setup = Path(setup).resolve()
    _write_xml(root, setup)
    with _inside(setup.parent):
        ok = tool_class(str(setup)).run()
    if not ok:
        raise RuntimeError(f"OpenSim's {tool_class.__name__} failed on {setup} (see the log beside it)")


def _ik_tasks(parent: ET.Element, names: dict[str, str], neutral: list[str], neutral_weight: float) -> None:
    tasks = _sub(_sub(parent, "IKTaskSet"), "objects")
    for lm, marker in names.items():
        t = _sub(tasks, "IKMarkerTask", name=marker)
        _sub(t, "apply", "true")
        _sub(t, "weight", f"{_WEIGHT[_kind(lm)]:g}")
    for coord in neutral:
        t = _sub(tasks, "IKCoordinateTask", name=coord)
        _sub(t, "apply", "true")
        _sub(t, "weight", f"{neutral_weight:g}")
        _sub(t, "value_type", "default_value")


def run_scale(model: Path, trc: Path, out: Path, names: dict[str, str], time_range: tuple[float, float],
              mass_kg: float = 70.0) -> tuple[Path, dict[str, float]]:
    """OpenSim's ScaleTool (measurement-based scaling over ``time_range``, markers not moved): writes
    ``scale_setup.xml`` and ``scaled.osim`` into ``out``; returns the scaled model and each measurement's factor."""
    import opensim as osim

    generic = osim.Model(str(model))
    bodies = [generic.getBodySet().get(i).getName() for i in range(generic.getBodySet().getSize())]
    measurements = scale_measurements(names, bodies)
    root = ET.Element("ScaleTool", name="reference")
    _fields(root, mass=f"{mass_kg:g}", height="-1", age="-1")
    gmm = _sub(root, "GenericModelMaker")
    _sub(gmm, "model_file", _rel(model, out))
    ms = _sub(root, "ModelScaler")
    _sub(ms, "apply", "true")
    _sub(ms, "scaling_order", " measurements")
    objs = _sub(_sub(ms, "MeasurementSet"), "objects")
    for name, pairs, bs in measurements:
        m = _sub(objs, "Measurement", name=name)
        _sub(m, "apply", "true")
        mp = _sub(_sub(m, "MarkerPairSet"), "objects")
        for a, b in pairs:
            _sub(_sub(mp, "MarkerPair"), "markers", f" {a} {b}")
        bsx = _sub(_sub(m, "BodyScaleSet"), "objects")
        for b in bs:
            _sub(_sub(bsx, "BodyScale", name=b), "axes", " X Y Z")
    _fields(ms, marker_file=_rel(trc, out), time_range=_span(time_range), preserve_mass_distribution="true",
            output_model_file="scaled.osim", output_scale_file="scale_factors.xml")
    # no MarkerPlacer: landmarks are not placed by hand, and moving the model's markers onto them would hide their
    # errors (opensim logs that no markers were moved)
    _run_tool(osim.ScaleTool, root, out / "scale_setup.xml")
    factors = {}
    scale_file = out / "scale_factors.xml"
    if scale_file.is_file():
        for el in ET.parse(scale_file).getroot().iter("Scale"):
            seg, sc = el.findtext("segment"), el.findtext("scales")
            if seg and sc:
                factors[seg.strip()] = float(np.mean([float(v) for v in sc.split()]))
    return out / "scaled.osim", factors


@dataclass
class IKResult:
    mot: Path
    errors: Path
    rms_m: np.ndarray  # (T,) marker error RMS per frame, metres
    max_m: np.ndarray  # (T,) largest marker error per frame
    neutral: list[str]  # the coordinates held weakly to their default value
    steps: dict[str, dict[str, float]]  # ``largest_steps`` of the .mot


def run_ik(model: Path, trc: Path, out: Path, names: dict[str, str], time_range: tuple[float, float],
           neutral_weight: float = NEUTRAL_WEIGHT) -> IKResult:
    """OpenSim's InverseKinematicsTool over ``time_range``: ``ik_setup.xml``, ``reference.mot`` and the marker
    errors it reports (``*_ik_marker_errors.sto``). The model's coordinates named in ``NEUTRAL_PRIOR`` are held to
    their default value with ``neutral_weight`` (0: not at all)."""
    import opensim as osim

    coords = _coordinates(model)
    neutral = [c for c in coords if c.startswith(NEUTRAL_PRIOR)] if neutral_weight > 0 else []
    root = ET.Element("InverseKinematicsTool", name="reference")
    _fields(root, results_directory=".", model_file=_rel(model, out), constraint_weight="Inf", accuracy="1e-05")
    _ik_tasks(root, names, neutral, neutral_weight)
    _fields(root, marker_file=_rel(trc, out), time_range=_span(time_range), output_motion_file="reference.mot",
            report_errors="true", report_marker_locations="false")
    _run_tool(osim.InverseKinematicsTool, root, out / "ik_setup.xml")
    err_file = out / "reference_ik_marker_errors.sto"
    table = osim.TimeSeriesTable(str(err_file))
    col = lambda n: np.array(table.getDependentColumn(n).to_numpy())  # noqa: E731
    mot = out / "reference.mot"
    return IKResult(mot, err_file, col("marker_error_RMS"), col("marker_error_max"), neutral,
                    largest_steps(mot, {name for name, rot in coords.items() if rot}))


def _coordinates(model: Path) -> dict[str, bool]:
    """The model's coordinate names -> rotational or not."""
    import opensim as osim

    m = osim.Model(str(model))  # held while its coordinate set is read (a temporary's set is freed under us)
    coords = m.getCoordinateSet()
    return {coords.get(i).getName(): coords.get(i).getMotionType() == osim.Coordinate.Rotational
            for i in range(coords.getSize())}


def largest_steps(mot: Path, rotational: set[str]) -> dict[str, dict[str, float]]:
    """Each ``rotational`` coordinate's largest change between consecutive frames of an IK ``.mot`` (``deg``) and
    when (``time_s``, the later frame), largest first: an angle curve a body can follow changes by a few degrees per
    frame, a solver's flip by tens."""
    import opensim as osim

    table = osim.TimeSeriesTable(str(mot))
    time = np.asarray(table.getIndependentColumn())
    steps = {}
    for name in table.getColumnLabels():
        values = np.asarray(table.getDependentColumn(name).to_numpy())
        if name in rotational and len(values) > 1:
            k = int(np.abs(np.diff(values)).argmax())
            steps[name] = {"deg": float(abs(values[k + 1] - values[k])), "time_s": float(time[k + 1])}  # IK: degrees
    return dict(sorted(steps.items(), key=lambda kv: -kv[1]["deg"]))
