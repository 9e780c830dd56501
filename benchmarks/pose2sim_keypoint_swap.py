"""How much of the difference between our reference and Pose2Sim's published IK one keypoint makes: Pose2Sim's own
scaled model and OpenSim IK run on Pose2Sim's own triangulated points, once as published and once with one keypoint
(default the left knee) replaced by ours (moved into their frame by the rigid transform of
``bench.agreement.align_points``). Each IK result is compared with our reference's IK and with the published one.

If a coordinate's difference from ours shrinks when only that keypoint is ours, the keypoint is where the two
references part; what stays apart comes from the models, marker sets and IK settings.

    python benchmarks/pose2sim_keypoint_swap.py --reference REF/person0 \
        --published ../shared/data/pose2sim/published [--keypoint left_knee] [--out benchmarks/results/reference/swap]

Writes ``keypoint_swap.json`` / ``.md``; OpenSim's own output to ``opensim.log`` in ``--out`` (the IK files are
temporary).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from d3ke_edge.bench.agreement import angle_agreement, read_angles
from d3ke_edge.bench.aligned_points import align_points
from d3ke_edge.cli.common import third_party_log
from d3ke_edge.io.trc import MarkerTable, read_trc, write_trc
from d3ke_edge.reference.opensim_tools import POSE2SIM_NAMES, run_ik
from d3ke_edge.utils.atomic import atomic_write_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", type=Path, required=True, help="one person's d3ke-edge reference folder")
    ap.add_argument("--published", type=Path, required=True, help="Pose2Sim's published trial folder")
    ap.add_argument("--keypoint", default="left_knee", choices=sorted(POSE2SIM_NAMES))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/reference/swap"))
    args = ap.parse_args()
    pub = args.published
    trc_path, model = pub / "BalancingTrial_0-100_filt_butterworth.trc", pub / "Model_Pose2Sim_body25b_scaled.osim"
    published_ik = read_angles(pub / "BalancingTrial_0-100_body25b_ik.mot")
    ours_ik = read_angles(args.reference / "reference.mot", "ours")
    theirs = read_trc(trc_path)
    al = align_points(args.reference / "landmarks.trc", trc_path)
    k, j = al.names.index(args.keypoint), theirs.names.index(POSE2SIM_NAMES[args.keypoint])
    ours_time = read_trc(args.reference / "landmarks.trc").time[al.ours_rows]
    rows = np.array([int(round(np.interp(t, theirs.time, np.arange(len(theirs.time))))) for t in ours_time])
    swapped = theirs.positions.copy()
    swapped[rows, j] = (al.ours[:, k] - al.translation) @ al.rotation  # ours -> their frame
    names = {n: n for n in theirs.names}
    span = (float(theirs.time[rows[0]]), float(theirs.time[rows[-1]]))
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"reference": str(args.reference), "keypoint": args.keypoint, "frames": len(rows), "runs": {}}
    with third_party_log(args.out / "opensim.log"), tempfile.TemporaryDirectory(dir=args.out) as tmp:
        for tag, pos in (("their points", theirs.positions), (f"their points, our {args.keypoint}", swapped)):
            work = Path(tmp) / tag.replace(" ", "_").replace(",", "")
            work.mkdir(exist_ok=True)
            trc = write_trc(MarkerTable(theirs.time, theirs.names, pos), work / "markers.trc", units="m")
            mot = run_ik(model, trc, work, names, span, neutral_weight=0.0).mot
            mine = read_angles(mot, tag)
            vs_ours = angle_agreement(ours_ik, mine, max_lag=2)
            result["runs"][tag] = {
                "published_mae_deg": angle_agreement(mine, published_ik, max_lag=2)["mean_mae_deg"],
                "ours_mae_deg": vs_ours["mean_mae_deg"],
                "ours_per_coordinate": {c: v["mae_deg"] for c, v in vs_ours["coordinates"].items()}}
    for tag, r in result["runs"].items():
        print(f"{tag}: {r['published_mae_deg']:.1f} deg from the published IK, {r['ours_mae_deg']:.1f} from ours ("
              + ", ".join(f"{c} {v:.1f}" for c, v in r["ours_per_coordinate"].items()) + ")")
    atomic_write_text(args.out / "keypoint_swap.json", json.dumps(result, indent=2) + "\n")
    tags = list(result["runs"])
    coords = list(result["runs"][tags[0]]["ours_per_coordinate"])
    lines = [f"# Pose2Sim's IK on its own points, and with our `{args.keypoint}`", "",
             f"Pose2Sim's scaled body25b model and OpenSim IK (every marker weight 1) over {len(rows)} frames. Mean "
             "absolute difference in degrees.", "",
             "| points | from the published IK | from ours | " + " | ".join(coords) + " |",
             "|---|---|---|" + "---|" * len(coords)]
    for tag, r in result["runs"].items():
        lines.append(f"| {tag} | {r['published_mae_deg']:.1f} | {r['ours_mae_deg']:.1f} | "
                     + " | ".join(f"{r['ours_per_coordinate'][c]:.1f}" for c in coords) + " |")
    atomic_write_text(args.out / "keypoint_swap.md", "\n".join(lines) + "\n")
    print(f"written to {args.out}: keypoint_swap.json, keypoint_swap.md")


if __name__ == "__main__":
    main()
