"""Stick-figure plots of skeleton poses: joint centres linked along the tree, markers as dots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..skeleton.model import GROUND, Skeleton
from ..utils.atomic import atomic_path

__all__ = ["plot_poses"]

# Projections of OpenSim ground (x forward, y up, z right) onto a page: front view looks along -x.
_VIEWS = {"front": (2, 1, -1.0), "side": (0, 1, 1.0)}


def plot_poses(
    skel: Skeleton, joint_centres: np.ndarray, markers: np.ndarray, path: str | Path, title: str = ""
) -> Path:
    """Front and side views of several poses; joint_centres (F, J, 3), markers (F, M, 3) in metres."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parent_joint = {j.child: i for i, j in enumerate(skel.joints)}
    links = [(parent_joint[j.parent], i) for i, j in enumerate(skel.joints) if j.parent != GROUND]
    n = len(joint_centres)
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 6.5), squeeze=False)
    for row, (view, (h, v, sign)) in enumerate(_VIEWS.items()):
        for f in range(n):
            ax = axes[row, f]
            jc, mk = joint_centres[f], markers[f]
            cx = jc[0, h]
            for a, b in links:
                ax.plot(sign * (jc[[a, b], h] - cx), jc[[a, b], v], "-", color="#333", lw=2)
            right = np.array([n.endswith("_r") for n in skel.marker_names])
            ax.scatter(sign * (mk[right, h] - cx), mk[right, v], s=6, c="#d62728", zorder=3)
            ax.scatter(sign * (mk[~right, h] - cx), mk[~right, v], s=6, c="#1f77b4", zorder=3)
            ax.axhline(0.0, color="#999", lw=0.8)
            ax.set_xlim(-0.9, 0.9)
            ax.set_ylim(-0.05, 1.95)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([] if f else [0, 0.5, 1.0, 1.5])
            ax.set_title(f"{view} {f}", fontsize=8)
    fig.suptitle(title or skel.name, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(path)
