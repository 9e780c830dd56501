"""The bank of recorded motion: .mot read by name, the range rules, resampling, mirroring, splits per subject, the
manifest, named errors, and the shared bank imported or refused clip by clip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from d3ke_edge.data.motion_bank import SPLITS, BankConfig, BankError, import_bank, load_manifest
from d3ke_edge.io.mot import MotionTable, write_mot
from d3ke_edge.skeleton.builtin import builtin_skeleton

MOTIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "motions"


@pytest.fixture(scope="module")
def skel():
    return builtin_skeleton()


def _trial(skel, path: Path, seconds: float = 1.0, fps: float = 100.0, extra: dict | None = None,
           unknown: bool = False) -> Path:
    """A 100-Hz .mot in degrees: the right knee bends 0-60 deg, the rest at defaults, ``extra`` columns set
    (radians), the pelvis walking 2 m from x = 3 m."""
    t = np.arange(0, seconds, 1 / fps)
    names = list(skel.coordinate_names)
    q = np.tile(skel.defaults, (len(t), 1))
    q[:, names.index("knee_angle_r")] = np.radians(30 - 30 * np.cos(2 * np.pi * t))
    q[:, names.index("pelvis_tx")] = 3.0 + 2.0 * t / seconds
    for n, v in (extra or {}).items():
        q[:, names.index(n)] = v
    labels = names + (["knee_angle_r_beta"] if unknown else [])
    if unknown:
        q = np.concatenate([q, np.zeros((len(t), 1))], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_mot(MotionTable(t, labels, q), path, skel)


@pytest.fixture(scope="module")
def lab(skel, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lab")
    (root / "LICENSE.txt").write_text("CC-BY-4.0\n")
    names = list(skel.coordinate_names)
    lo, hi = skel.ranges[names.index("knee_angle_l")]
    for k in range(3):
        _trial(skel, root / "S1" / f"walk{k}.mot", unknown=k == 0)
    # the left knee 5 deg past its limit in a few frames: clamped
    _trial(skel, root / "S2" / "clamp.mot", extra={"knee_angle_l": np.where(np.arange(100) < 10, hi + np.radians(5),
                                                                             np.radians(20))})
    # pronation from another zero: 20 deg past in every frame -> replaced by its default
    _trial(skel, root / "S2" / "convention.mot", extra={"pro_sup_r": skel.ranges[names.index("pro_sup_r")][1]
                                                        + np.radians(20)})
    # 60 deg past: refused
    _trial(skel, root / "S2" / "lost.mot", extra={"arm_rot_l": np.radians(150)})
    # nothing we know
    (root / "S2" / "other.mot").write_text("other\nversion=1\ninDegrees=yes\nendheader\ntime\tfoo\tbar\n0\t1\t2\n"
                                           "0.01\t1\t2\n")
    return root


def test_a_lab_folder_becomes_a_bank(skel, lab, tmp_path):
    bank = tmp_path / "bank"
    m = import_bank([lab], bank, skel, say=lambda s: None)
    assert m == load_manifest(bank)
    clips = {c["path"]: c for c in m["clips"]}
    assert m["summary"] == {**m["summary"], "files": 7, "imported": 5, "refused": 2}
    assert clips["S1/walk0.mot"]["unknown_columns"] == ["knee_angle_r_beta"]
    assert clips["S1/walk0.mot"]["source"] == lab.name and clips["S1/walk0.mot"]["subject"] == "S1"
    assert clips["S1/walk0.mot"]["licence"].endswith("LICENSE.txt: CC-BY-4.0")
    assert "arm_rot_l is 60 deg past its range" in clips["S2/lost.mot"]["refused"]
    assert "none of its columns name a coordinate" in clips["S2/other.mot"]["refused"]
    assert clips["S2/clamp.mot"]["clamped"]["knee_angle_l"] == {"frames_pct": 10.0, "max_deg": 5.0}
    assert clips["S2/convention.mot"]["replaced"]["pro_sup_r"]["frames_pct"] == 100.0
    names = list(skel.coordinate_names)
    conv = np.load(bank / "clips" / f"{clips['S2/convention.mot']['id']}.npz")
    assert np.allclose(conv["q"][:, names.index("pro_sup_r")], skel.defaults[names.index("pro_sup_r")])
    clamp = np.load(bank / "clips" / f"{clips['S2/clamp.mot']['id']}.npz")["q"]
    assert clamp[:, names.index("knee_angle_l")].max() <= skel.ranges[names.index("knee_angle_l")][1] + 1e-6
    # resampled to 60 fps over the 0.99-s span (59 intervals: 1.967 m of the 2-m walk); the horizontal path centred; the mirror swaps the knees
    walk = np.load(bank / "clips" / f"{clips['S1/walk1.mot']['id']}.npz")
    assert float(walk["fps"]) == 60.0 and len(walk["q"]) == 60 and clips["S1/walk1.mot"]["frames"] == 60
    tx = walk["q"][:, names.index("pelvis_tx")]
    assert abs(tx.max() + tx.min()) < 1e-5 and clips["S1/walk1.mot"]["travel_m"] == pytest.approx(1.967, abs=0.01)
    knee = walk["q"][:, names.index("knee_angle_r")]
    assert np.degrees(knee.max()) == pytest.approx(60.0, abs=0.2)
    mirrored = np.load(bank / "clips" / f"{clips['S1/walk1.mot']['id']}_mirror.npz")["q"]
    assert np.allclose(mirrored[:, names.index("knee_angle_l")], knee, atol=1e-6)
    # splits per subject: S1's three trials one in each; S2's two kept clips train (fewer than three trials)
    assert sorted(clips[f"S1/walk{k}.mot"]["split"] for k in range(3)) == ["test", "train", "val"]
    assert clips["S2/clamp.mot"]["split"] == clips["S2/convention.mot"]["split"] == "train"
    assert "## Refused" in (bank / "manifest.md").read_text()
    # the same sources give the same bank; another split rule another hash
    again = import_bank([lab], tmp_path / "again", skel, say=lambda s: None)
    assert again["bank_hash"] == m["bank_hash"]
    other = import_bank([lab], tmp_path / "other", skel, BankConfig(test_fraction=0.7, val_fraction=0.1), say=lambda s: None)
    assert other["bank_hash"] != m["bank_hash"]


def test_bad_sources_are_named_and_an_existing_bank_is_kept(skel, lab, tmp_path):
    from typer.testing import CliRunner

    from d3ke_edge.cli import app

    bank = tmp_path / "bank"
    import_bank([lab / "S1"], bank, skel, say=lambda s: None)
    before = (bank / "manifest.json").read_text()
    (tmp_path / "empty").mkdir()
    with pytest.raises(BankError, match="holds no motion file"):
        import_bank([tmp_path / "empty"], bank, skel)
    with pytest.raises(BankError, match="nothing importable"):
        import_bank([lab / "S2" / "other.mot"], bank, skel, say=lambda s: None)
    assert (bank / "manifest.json").read_text() == before  # nothing half-written, nothing lost
    assert not list(tmp_path.glob(".bank-*"))
    run = CliRunner()
    for args, text in ((["motions", "import", str(tmp_path / "nope"), "--out", str(bank)], "does not exist"),
                       (["motions", "import", str(tmp_path / "empty"), "--out", str(bank)], "holds no motion file"),
                       (["motions", "import", str(lab / "LICENSE.txt"), "--out", str(bank)], "is not a motion file"),
                       (["motions", "import", str(lab), "--out", str(bank), "--fps", "0"], "fps must be > 0")):
        res = run.invoke(app, args)
        assert res.exit_code == 2 and text in res.output, res.output
    res = run.invoke(app, ["motions", "import", str(lab), "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0 and "5 of 7 files imported" in res.output


def test_the_shared_bank_is_imported_or_refused_clip_by_clip(skel, tmp_path):
    """The shared motion capture's OpenSim .mot clips imported (one drop jump refused: its left arm turns 82 deg
    past the model's range), and its two wheelchair C3D trials refused for want of the markers that place a body
    (retargeting the CMU clips, the tennis serve and DeepMimic takes minutes: their own tests use short pieces, and
    the committed manifest has all of them). Measured: 37 of 40 files, 324 s of motion (one copy), each
    AddBiomechanics subject in every split."""
    if not MOTIONS.is_dir():
        pytest.skip("the shared motion capture is absent (../shared/data/motions)")
    sources = [MOTIONS / s for s in ("addbiomechanics", "opencap", "kineticstoolkit/kinematics_basket_sprint.c3d",
                                     "kineticstoolkit/kinematics_racing_full.c3d")]
    m = import_bank(sources, tmp_path / "bank", skel, say=lambda s: None)
    clips = m["clips"]
    mot = [c for c in clips if c["path"].endswith(".mot")]
    assert len(mot) == 38 and sum(not c["refused"] for c in mot) == 37 and len(clips) == 40
    why = {Path(c["path"]).name: c["refused"] for c in clips if c["path"].endswith(".c3d")}
    assert "lacks the Plug-in Gait markers" in why["kinematics_basket_sprint.c3d"]
    assert "cannot be read as C3D" in why["kinematics_racing_full.c3d"]  # the c3d package rejects its SCALE
    assert {c["source"] for c in clips} == {"addbiomechanics", "opencap", "kineticstoolkit"}
    dj3 = next(c for c in mot if c["path"].endswith("DJ3.mot"))
    assert "arm_rot_l" in dj3["refused"]
    for subject in ("Expert1", "Expert2", "Expert3"):
        assert {c["split"] for c in mot if c["subject"] == subject and not c["refused"]} == set(SPLITS), subject
    assert sum(m["summary"]["seconds"].values()) > 300
    assert len(list((tmp_path / "bank" / "clips").glob("*.npz"))) == 2 * 37
    json.dumps(m)  # the manifest is plain JSON


def test_the_landmark_data_draws_recorded_motion_from_a_bank(skel, lab, tmp_path):
    """Sequences of the landmark model's pose bank drawn from a motion bank: the recorded right knee (0-60 deg, or
    its mirror on the left), planted on the floor for each subject; weight 0 leaves the families' bank unchanged;
    bad settings are named."""
    from d3ke_edge.data.landmark_synth import LandmarkSynthConfig, PoseBank
    from d3ke_edge.data.synth import MOTION_FILE_FAMILY

    bank = tmp_path / "bank"
    import_bank([lab / "S1"], bank, skel, say=lambda s: None)
    seeds = [11, 12, 13, 14, 15, 16]
    cfg = LandmarkSynthConfig(sequences=6, seconds=0.5, fps=30.0, noise="none", motion_bank=str(bank),
                              motion_bank_weight=1.0)
    pb = PoseBank.build(cfg, seeds)
    assert (pb.family == MOTION_FILE_FAMILY).all() and len(pb) == 6 * 15
    names = list(skel.coordinate_names)
    knees = np.degrees(pb.coordinates[:, [names.index("knee_angle_r"), names.index("knee_angle_l")]].numpy())
    assert knees.min() > -0.01 and knees.max() < 60.01 and knees.max() > 20.0
    from d3ke_edge.data.motion import FOOT_MARKERS

    lowest = pb.markers[:, [skel.marker_names.index(m) for m in FOOT_MARKERS if m in skel.marker_names], 1].amin(-1)
    per_sequence = lowest.reshape(6, 15)
    # each window's lowest frame on the floor for this subject; the others as high above it as the recording's
    # lowest foot was (this clip's pelvis holds still while a knee bends: its feet move 2-4 cm)
    assert per_sequence.amin(1).abs().max() < 1e-3 and per_sequence.max() < 0.06
    plain = PoseBank.build(LandmarkSynthConfig(sequences=6, seconds=0.5, fps=30.0, noise="none"), seeds)
    same = PoseBank.build(LandmarkSynthConfig(sequences=6, seconds=0.5, fps=30.0, noise="none",
                                              motion_bank=str(bank), motion_bank_weight=0.0), seeds)
    assert torch.equal(plain.coordinates, same.coordinates)
    with pytest.raises(ValueError, match="needs motion_bank"):
        LandmarkSynthConfig(motion_bank_weight=0.5)
    with pytest.raises(ValueError, match="is not a motion bank"):
        LandmarkSynthConfig(motion_bank=str(tmp_path), motion_bank_weight=0.5)
    one = tmp_path / "one"
    import_bank([lab / "S1" / "walk0.mot"], one, skel, say=lambda s: None)
    with pytest.raises(ValueError, match="no clip in its val split"):
        PoseBank.build(LandmarkSynthConfig(sequences=1, motion_bank=str(one), motion_bank_weight=1.0,
                                           motion_bank_split="val"), [1])


def test_bench_landmarks_scores_a_model_on_recorded_motion(skel, lab, tiny_world_lift, tmp_path):
    """Any .mot through seeded cameras into a landmark model (here a 40-step one: the plumbing, not its accuracy):
    per motion, group and coordinate, the same numbers on a second run; a motion the bank's rules refuse is named."""
    from typer.testing import CliRunner

    from d3ke_edge.cli import app

    args = ["bench", "landmarks", "--model", str(tiny_world_lift), "--motion", str(lab / "S1" / "walk0.mot"),
            "--motion", str(lab / "S2" / "clamp.mot"), "--sequences", "3", "--seconds", "1.0"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    r = json.loads((tmp_path / "a" / "landmarks_bench.json").read_text())
    assert set(r["motions"]) == {"walk0.mot", "clamp.mot"} and r["motions"]["walk0.mot"]["frames"] == 30
    assert 0.0 < r["angle_mae_deg"] < 90.0
    assert {"knee_angle_r", "elbow_flex_l"} <= set(r["motions"]["walk0.mot"]["coordinates"])
    md = (tmp_path / "a" / "landmarks_bench.md").read_text()
    assert "| walk0.mot | per-frame |" in md and "| walk0.mot | per-frame + fit |" in md  # infer's fit after it
    again = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "b" / "landmarks_bench.json").read_text())["angle_mae_deg"] == r["angle_mae_deg"]
    bad = CliRunner().invoke(app, ["bench", "landmarks", "--model", str(tiny_world_lift), "--motion",
                                   str(lab / "S2" / "lost.mot"), "--out", str(tmp_path / "c")])
    assert bad.exit_code == 2 and "arm_rot_l" in bad.output


def _write_c3d(path: Path, labels: list[str], xyz_mm: np.ndarray, rate: float = 60.0) -> Path:
    """A C3D file (the ``c3d`` package's writer) of marker trajectories (T, N, 3) in millimetres."""
    import c3d

    w = c3d.Writer(point_rate=rate)
    w.set_point_labels(labels)
    frames = []
    for x in xyz_mm:
        pts = np.zeros((len(labels), 5), np.float32)
        pts[:, :3] = x
        frames.append((pts, np.zeros((0, 0), np.float32)))
    w.add_frames(frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        w.write(f)
    return path


def test_a_plug_in_gait_c3d_is_retargeted_back_to_the_motion_that_made_it(skel, tmp_path):
    """Our own markers over a known motion, written as a Plug-in Gait C3D (millimetres, Z up, as a lab's): the
    bank reads the units and the vertical axis, fits our skeleton to the markers, and gets the motion back."""
    from d3ke_edge.data.c3d_markers import PLUG_IN_GAIT
    from d3ke_edge.skeleton.fk import ForwardKinematics

    t = np.arange(0, 1.0, 1 / 60)
    names = list(skel.coordinate_names)
    q = np.tile(skel.defaults, (len(t), 1))
    q[:, names.index("knee_angle_r")] = np.radians(35 - 35 * np.cos(2 * np.pi * t))
    q[:, names.index("elbow_flex_l")] = np.radians(50 + 30 * np.sin(2 * np.pi * t))
    q[:, names.index("pelvis_ty")] = 0.95
    with torch.no_grad():
        m = ForwardKinematics(skel, torch.float64)(torch.from_numpy(q)).markers.numpy()
    labels = list(PLUG_IN_GAIT)
    y_up = m[:, [skel.marker_names.index(PLUG_IN_GAIT[lb]) for lb in labels]]
    z_up = np.stack([y_up[..., 0], -y_up[..., 2], y_up[..., 1]], -1) * 1000  # a lab's frame: Z up, mm
    lab = tmp_path / "lab"
    (lab / "LICENSE").parent.mkdir(parents=True)
    (lab / "LICENSE").write_text("MIT License\n")
    _write_c3d(lab / "S1" / "trial.c3d", [f"Subject:{lb}" for lb in labels], z_up)
    out = import_bank([lab], tmp_path / "bank", skel, BankConfig(mirror=False, val_fraction=0.0, test_fraction=0.0,
                                                                 fit_iterations=500), say=lambda s: None)
    clip = out["clips"][0]
    assert not clip["refused"], clip["refused"]
    assert clip["fit_error_mm"] < 5.0 and clip["licence"].endswith("MIT"), clip
    got = np.load(tmp_path / "bank" / "clips" / f"{clip['id']}.npz")["q"]
    knee = np.degrees(got[:, names.index("knee_angle_r")])
    assert knee.max() == pytest.approx(70.0, abs=3.0) and knee.min() < 3.0  # measured: 0.4 mm; 0.6-68.5 deg


def test_retargeting_sources_that_cannot_work_are_refused_with_the_reason(skel, tmp_path):
    """A C3D without the markers that place a body, a corrupt AMC, an AMC without its subject's ASF: each clip is
    refused with what is wrong (the file, the line, the missing markers); a source of nothing but those is an
    error and writes no bank."""
    lab = tmp_path / "lab"
    (lab / "c3d").mkdir(parents=True)
    (lab / "LICENSE").write_text("MIT License\n")
    _write_c3d(lab / "c3d" / "wheelchair.c3d", ["Wheel:M1", "Arm:M2", "C7"], np.random.default_rng(0).normal(
        size=(20, 3, 3)) * 100)
    asf_src = MOTIONS / "cmu" / "01" / "01.asf"
    if asf_src.is_file():
        (lab / "cmu").mkdir()
        (lab / "cmu" / "01.asf").write_text(asf_src.read_text())
        amc = (MOTIONS / "cmu" / "01" / "01_01.amc").read_text().splitlines()
        head = [ln for ln in amc[:200]]
        bad = next(i for i, ln in enumerate(head) if ln.startswith("lfemur"))
        head[bad] = "lfemur 1.0 2.0"  # two of its three values
        (lab / "cmu" / "01_broken.amc").write_text("\n".join(head) + "\n")
        (lab / "lonely").mkdir()
        (lab / "lonely" / "01_01.amc").write_text("\n".join(amc[:200]) + "\n")
    with pytest.raises(BankError, match="nothing importable"):
        import_bank([lab], tmp_path / "bank", skel, say=lambda s: None)
    assert not (tmp_path / "bank").exists()
    from d3ke_edge.data.c3d_markers import C3DError, read_c3d_markers

    with pytest.raises(C3DError, match=r"lacks the Plug-in Gait markers \['LASI', 'RASI'"):
        read_c3d_markers(lab / "c3d" / "wheelchair.c3d")
    if asf_src.is_file():
        from d3ke_edge.data.acclaim import AcclaimError, read_amc, read_asf

        bones = read_asf(lab / "cmu" / "01.asf")
        with pytest.raises(AcclaimError, match=rf"line {bad + 1}: bone 'lfemur' has 2 values, its dof need 3"):
            read_amc(lab / "cmu" / "01_broken.amc", bones)
        (lab / "cmu" / "01_good.amc").write_text("\n".join(amc[:3700]) + "\n")  # ~1 s at 120 Hz (30 lines a frame)
        m = import_bank([lab / "lonely", lab / "cmu"], tmp_path / "b2", skel,
                        BankConfig(mirror=False, val_fraction=0.0, test_fraction=0.0, fit_iterations=300),
                        say=lambda s: None)
        why = {c["path"]: c["refused"] for c in m["clips"]}
        assert "0 .asf skeleton files beside it" in why["01_01.amc"]
        assert "has 2 values, its dof need 3" in why["01_broken.amc"]
        good = next(c for c in m["clips"] if c["path"] == "01_good.amc")
        assert good["refused"] is None and good["fit_error_mm"] < 20.0, good


def test_a_bank_is_rebuilt_from_its_manifest_or_refused_saying_what_differs(skel, lab, tmp_path):
    """``--reproduce MANIFEST``: the folder a bank was made from, grown since by a trial and a subject, gives back
    that bank (same hash: only the files it imported are read, with its settings); a changed trial, a missing one or
    a renamed folder is refused with what differs, and nothing is written."""
    import shutil

    from typer.testing import CliRunner

    from d3ke_edge.cli import app

    src = tmp_path / "lab"
    shutil.copytree(lab, src)
    made = import_bank([src], tmp_path / "bank", skel, BankConfig(fps=50.0), say=lambda s: None)
    _trial(skel, src / "S1" / "walk9.mot", seconds=2.0)  # added since: it would take a split of S1's
    _trial(skel, src / "S3" / "new.mot")
    run = CliRunner()
    res = run.invoke(app, ["motions", "import", str(src), "--out", str(tmp_path / "again"), "--reproduce",
                           str(tmp_path / "bank")])
    assert res.exit_code == 0, res.output
    again = load_manifest(tmp_path / "again")
    assert again["bank_hash"] == made["bank_hash"] and again["config"]["fps"] == 50.0
    assert {c["path"] for c in again["clips"]} == {c["path"] for c in made["clips"] if not c["refused"]}
    changed = _trial(skel, src / "S1" / "walk1.mot", seconds=1.5)  # a trial re-exported since
    for args, text in (([str(src)], "their values differ"),
                       ([str(src / "S1")], "not under the sources given (first: S1/walk0.mot)"),
                       ([str(lab)], None)):
        res = run.invoke(app, ["motions", "import", *args, "--out", str(tmp_path / "bad"), "--reproduce",
                               str(tmp_path / "bank" / "manifest.json")])
        if text is None:  # the original folder under another name: every clip's name differs
            assert res.exit_code == 2 and "not found" in res.output and "under the name it had" in res.output
            continue
        assert res.exit_code == 2 and text in res.output.replace("\n", " "), res.output
    assert changed.is_file() and not (tmp_path / "bad").exists() and not list(tmp_path.glob(".bank-*"))
    res = run.invoke(app, ["motions", "import", str(src), "--out", str(tmp_path / "bad"), "--reproduce",
                           str(src / "LICENSE.txt")])
    assert res.exit_code == 2 and "cannot read a manifest" in res.output
    other = {**made, "config": {**made["config"], "smoothing": 3}}  # a setting this version does not have
    (tmp_path / "other.json").write_text(json.dumps(other))
    res = run.invoke(app, ["motions", "import", str(src), "--out", str(tmp_path / "bad"), "--reproduce",
                           str(tmp_path / "other.json")])
    assert res.exit_code == 2 and "settings are not ones this version reads" in res.output.replace("\n", " ")
    assert not (tmp_path / "bad").exists()
