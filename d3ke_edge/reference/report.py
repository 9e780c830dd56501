"""The reference's report: a Markdown summary of its quality figures and a plot of the main joint angles."""

from __future__ import annotations

from pathlib import Path

__all__ = ["markdown", "angle_plot", "people_markdown", "MAIN_ANGLES", "JOINT_GROUPS"]

MAIN_ANGLES = (("hip_flexion_r", "hip_flexion_l"), ("knee_angle_r", "knee_angle_l"),
               ("ankle_angle_r", "ankle_angle_l"), ("arm_flex_r", "arm_flex_l"), ("elbow_flex_r", "elbow_flex_l"),
               ("lumbar_extension",))
# the real-footage tables' joint groups: the pairs above (lumbar extension is compared, not grouped)
JOINT_GROUPS = dict(zip(("hips", "knees", "ankles", "arms", "elbows"), MAIN_ANGLES[:5]))


def markdown(r: dict) -> str:
    lines = [f"# Multi-camera reference ({len(r['cameras'])} cameras, {r['frames']} frames at {r['fps']:g} fps)", "",
             f"Calibration `{r['calibration']}`, cameras matched {r['camera_matching']}.", ""]
    lines += [f"- {n}" for n in r["notes"]] + ([""] if r["notes"] else [])
    lines += ["| camera | tracked | offset (frames) | reprojection median px | p90 px | used in | label fixes | "
              "refined median px | held out px (per frame) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, c in r["cameras"].items():
        fixes = ", ".join(f"{g} {n}" for g, n in c["label_fixes"].items() if n) or "none"
        lines.append(f"| {name} | {c['tracked_frames']}/{c['frames']} | {c['offset_frames']:+d} | "
                     f"{c['reprojection_median_px']:.1f} | {c['reprojection_p90_px']:.1f} | "
                     f"{100 * c['used_fraction']:.0f} % | {fixes} | {c['final_median_px']:.1f} | "
                     + (f"{c['held_out_median_px']:.1f} ({c['held_out_per_frame_median_px']:.1f}) |"
                        if c.get("held_out_median_px") is not None else "- |"))
    ik = r["ik"]
    lines += ["", f"Reprojection median {r['reprojection_median_px']:.1f} px over every view that saw a point, "
                  f"{r['reprojection_median_used_px']:.1f} px over the views each point was triangulated from; "
                  f"{100 * r['points_missing_fraction']:.1f} % of points left out (views disagreeing), bridged by "
                  f"interpolation up to {r['settings']['max_gap']} frames.", "", _refine_line(r), "",
              f"OpenSim IK marker error: RMS median {ik['marker_rms_median_mm']:.1f} mm, p90 "
              f"{ik['marker_rms_p90_mm']:.1f} mm, largest {ik['marker_max_mm']:.1f} mm.", "",
              _prior_line(ik), "",
              "| segment | length mm (reference) | std mm (reference) | std mm (filtered, not refined) | std mm (raw) |",
              "|---|---|---|---|---|"]
    for name, b in r["bones_filtered"].items():
        lines.append(f"| {name} | {b['mean_mm']:.0f} | {b['std_mm']:.1f} | {r['bones_unrefined'][name]['std_mm']:.1f} "
                     f"| {r['bones_raw'][name]['std_mm']:.1f} |")
    lines += ["", "Scale factors (OpenSim ScaleTool, measurements): "
              + ", ".join(f"{k} {v:.3f}" for k, v in r["scale_factors"].items()), ""]
    return "\n".join(lines) + "\n"


def _refine_line(r: dict) -> str:
    st = r["settings"]
    if not (st["smooth_weight"] or st["length_weight"]):
        text = "Not refined over the trial (per-frame triangulation, gap-filled and filtered)."
    else:
        text = (f"Refined over the whole trial (smoothness weight {st['smooth_weight']:g}, segment-length weight "
                f"{st['length_weight']:g}): reprojection median {r['final_reprojection_median_px']:.1f} px over every "
                "view that saw a point.")
    if r.get("held_out_median_px") is not None:
        text += (f" Each camera predicted from the others (a figure the fit never saw): median "
                 f"{r['held_out_median_px']:.1f} px on average over the cameras, {r['held_out_per_frame_median_px']:.1f} "
                 "px without the refinement.")
    return text


def _prior_line(ik: dict) -> str:
    steps = ", ".join(f"{k} {v['deg']:.1f} at {v['time_s']:.2f} s" for k, v in list(ik["largest_steps"].items())[:5])
    held = (f"IK held {', '.join(ik['neutral_coordinates'])} weakly to neutral (weight {ik['neutral_weight']:g}: a "
            "1-rad departure costs as much as 1 cm of joint-landmark error); "
            if ik["neutral_coordinates"] else "IK held no coordinate to neutral; ")
    return held + f"largest change between frames (deg): {steps}."


def angle_plot(mot: Path, png: Path) -> Path:
    """The main joint angles of a ``.mot`` (degrees) over time, right and left in one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import opensim

    table = opensim.TimeSeriesTable(str(mot))  # IK writes degrees; plotted as written
    labels = list(table.getColumnLabels())
    time = np.array(table.getIndependentColumn())
    col = lambda n: np.array(table.getDependentColumn(n).to_numpy())  # noqa: E731
    panels = [p for p in MAIN_ANGLES if any(c in labels for c in p)]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.9 * len(panels)), sharex=True)
    for ax, names in zip(np.atleast_1d(axes), panels):
        for name, style in zip(names, ("-", "--")):
            if name in labels:
                ax.plot(time, col(name), style, label=name)
        ax.set_ylabel("deg")
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[-1].set_xlabel("time (s)")
    fig.suptitle("Reference joint angles (OpenSim IK on the triangulated landmarks)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def people_markdown(summary: dict) -> str:
    """``people.json`` as a table: who was matched in which views, how often, and where their reference is."""
    lines = ["# People in the recording", "",
             f"Views {', '.join(summary['views'])}; tracks per view: "
             + ", ".join(f"{k} {v}" for k, v in summary["tracks_per_view"].items()) + ".", "",
             "| person | views | frames seen by >= 2 views | by all its views | IK marker RMS median mm | folder |",
             "|---|---|---|---|---|---|"]
    for p in summary["people"]:
        ik = f"{p['ik_marker_rms_median_mm']:.1f}" if "ik_marker_rms_median_mm" in p else f"no reference: {p['error']}"
        lines.append(f"| person{p['person']} | {', '.join(p['views'])} | {p['frames_in_2_views']}/{p['frames']} | "
                     f"{p['frames_in_all_its_views']}/{p['frames']} | {ik} | `{p['folder']}/` |")
    return "\n".join(lines) + "\n"
