"""The benchmark report: ``report.html`` (one self-contained page, plots embedded) from ``robustness.json`` and
``latency.json``, and the default phone artefact chosen from both.

Plots (matplotlib, also written to ``plots/*.png``): angle error vs severity per condition (a line per model),
clean error per joint group, clean vs flipped error per body side, latency per candidate, and accuracy vs latency
(the Pareto plot) where the same artefact has both.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

from ..utils.atomic import atomic_write_bytes, atomic_write_text
from .browser import browser_markdown
from .latency import latency_markdown
from .robustness import robustness_markdown

__all__ = ["build_report", "phone_default", "DEFAULT_TOLERANCE_DEG"]

DEFAULT_TOLERANCE_DEG = 0.5  # the default phone artefact: fastest within this of the best, clean and under conditions


def _load(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"'{path}' is not valid JSON ({exc}); rerun the benchmark that writes it") from exc


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _figure().close(fig)
    return buf.getvalue()


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _severity_plot(rob: dict) -> bytes:
    plt = _figure()
    conds = sorted({k.split("/")[0] for rows in rob["models"].values() for k in rows} - {"clean", "hflip_unmirrored"})
    cols = min(3, max(1, len(conds)))
    rows_n = math.ceil(len(conds) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.2 * rows_n), squeeze=False)
    styles = [(m, ls) for ls in ("-", "--", ":") for m in ("o", "s", "^", "D", "v")]
    for ax, cond in zip(axes.flat, conds):
        for i, (name, rows) in enumerate(rob["models"].items()):
            pts = sorted((int(k.split("/")[1]), r["angle_mae_deg"]) for k, r in rows.items()
                         if k.split("/")[0] == cond)
            pts = [(0, rows["clean/0"]["angle_mae_deg"])] + pts
            marker, line = styles[i % len(styles)]  # equal results (fp32 parity) stay visible as overlapping marks
            ax.plot(*zip(*pts), marker=marker, linestyle=line, markerfacecolor="none", label=_short(name))
            ax.set_xticks([p[0] for p in pts])
        ax.set_title(cond)
        ax.set_xlabel("severity (0 = clean)")
        ax.set_ylabel("angle MAE (deg)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(conds):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=1, fontsize=8, bbox_to_anchor=(0.5, -0.02 - 0.04 * len(labels)))
    fig.suptitle("Angle error vs severity")
    fig.tight_layout()
    return _png(fig)


def _grouped_bars(ax, categories: list[str], series: dict[str, list[float]]) -> None:
    import numpy as np

    width = 0.8 / max(1, len(series))
    x = np.arange(len(categories))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=_short(name))
    ax.set_xticks(x, categories, rotation=30, ha="right")
    ax.grid(axis="y", alpha=0.3)


def _group_plot(rob: dict) -> bytes:
    plt = _figure()
    first = next(iter(rob["models"].values()))["clean/0"]
    groups = [k for k in first if k.startswith("angle_") and k.endswith("_deg") and k != "angle_mae_deg"
              and not k.startswith(("angle_left", "angle_right"))]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    _grouped_bars(ax, [g.removeprefix("angle_").removesuffix("_deg") for g in groups],
                  {n: [rows["clean/0"][g] for g in groups] for n, rows in rob["models"].items()})
    ax.set_ylabel("angle MAE (deg), clean")
    ax.set_title("Clean angle error per joint group")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.38), ncol=2)
    return _png(fig)


def _flip_plot(rob: dict) -> bytes | None:
    plt = _figure()
    models = {n: rows for n, rows in rob["models"].items() if "hflip/1" in rows and "angle_left_deg" in rows["clean/0"]}
    if not models:
        return None
    cats = ["left, clean", "left, flipped", "right, clean", "right, flipped", "all, flipped unmirrored"]
    series = {n: [r["clean/0"]["angle_left_deg"], r["hflip/1"]["angle_left_deg"], r["clean/0"]["angle_right_deg"],
                  r["hflip/1"]["angle_right_deg"], r.get("hflip_unmirrored/1", {}).get("angle_mae_deg", math.nan)]
              for n, r in models.items()}
    fig, ax = plt.subplots(figsize=(9, 3.8))
    _grouped_bars(ax, cats, series)
    ax.set_ylabel("angle MAE (deg)")
    ax.set_title("Clean vs horizontally flipped, per body side (flipped scored against the mirrored truth)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.38), ncol=2)
    return _png(fig)


def _latency_plot(lat: dict) -> bytes:
    plt = _figure()
    rows = [r for r in lat["rows"] if "p50_ms" in r and r["threads"] == min(lat["config"]["threads"])]
    colours = {"server": "tab:red", "user": "tab:blue", "sweep": "tab:gray", "pipeline": "tab:green"}
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.2))
    labels = [_short(f"{r['name']} {r['precision']} ({r['runtime'].split(' (')[0]})", 64) for r in rows]
    ax.barh(range(len(rows)), [r["p50_ms"] for r in rows], color=[colours.get(r["group"], "tab:blue") for r in rows])
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel(f"p50 ms per call, {min(lat['config']['threads'])} thread(s), log scale "
                  "(red: server baseline, blue: yours, grey: sweep, green: whole video path)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"Latency on {lat['machine']['cpu']}")
    return _png(fig)


def _joined(rob: dict | None, lat: dict | None) -> list[dict]:
    """Artefacts with both accuracy (per-frame, no head) and latency (fewest threads), joined by file path."""
    if not rob or not lat:
        return []
    threads = min(lat["config"]["threads"])
    by_file = {r["file"]: r for r in lat["rows"] if r.get("file") and "p50_ms" in r and r["threads"] == threads
               and r["group"] == "user" and r["device"] == "cpu"}
    out = []
    for name, path in rob.get("files", {}).items():
        if path in by_file:
            s = rob["summary"][name]
            out.append({"name": name, "file": path, "p50_ms": by_file[path]["p50_ms"], "precision":
                        by_file[path]["precision"], "runtime": by_file[path]["runtime"],
                        "clean_deg": s["clean_angle_mae_deg"], "conditions_deg": s["corrupted_angle_mae_deg"]})
    return out


def _sweep_joined(rob: dict | None, lat: dict | None) -> list[dict]:
    """Sweep rows (random weights) given the accuracy of a trained checkpoint of the same family and input size."""
    if not rob or not lat:
        return []
    threads = min(lat["config"]["threads"])
    trained = {(a["arch"], a["size"]): n for n, a in rob.get("architectures", {}).items()
               if a.get("checkpoint") and ":" not in rob["files"].get(n, "").rsplit("/", 1)[-1]}
    out = []
    for r in lat["rows"]:
        key = (r.get("model"), r.get("size"))
        if r["group"] == "sweep" and "p50_ms" in r and r["threads"] == threads and key in trained:
            s = rob["summary"][trained[key]]
            out.append({"name": f"{r['name']} {r['precision']} (accuracy of {trained[key]})", "file": r["file"],
                        "p50_ms": r["p50_ms"], "precision": r["precision"], "runtime": r["runtime"],
                        "clean_deg": s["clean_angle_mae_deg"], "conditions_deg": s["corrupted_angle_mae_deg"]})
    return out


def phone_default(rob: dict | None, lat: dict | None, tolerance_deg: float = DEFAULT_TOLERANCE_DEG) -> dict | None:
    """The fastest artefact within ``tolerance_deg`` of the best, both clean and averaged over the conditions."""
    joined = [j for j in _joined(rob, lat) if not j["file"].endswith(".pt")]  # TorchScript is not a phone runtime
    if not joined:
        return None
    best_clean = min(j["clean_deg"] for j in joined)
    best_cond = min(j["conditions_deg"] for j in joined)
    ok = [j for j in joined if j["clean_deg"] <= best_clean + tolerance_deg
          and j["conditions_deg"] <= best_cond + tolerance_deg]
    pick = min(ok, key=lambda j: j["p50_ms"])
    return {**pick, "rule": f"fastest artefact within {tolerance_deg} deg of the best clean ({best_clean:.2f}) and "
                            f"of the best mean over conditions ({best_cond:.2f})", "candidates": joined}


def _pareto_plot(joined: list[dict]) -> bytes | None:
    if not joined:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for j in joined:
        ax.scatter(j["p50_ms"], j["clean_deg"], marker="o", color="tab:blue")
        ax.scatter(j["p50_ms"], j["conditions_deg"], marker="^", color="tab:orange")
        ax.annotate(_short(j["name"], 30), (j["p50_ms"], j["clean_deg"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xscale("log")
    from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("p50 ms per frame (log)")
    ax.set_ylabel("angle MAE (deg)")
    ax.scatter([], [], marker="o", color="tab:blue", label="clean")
    ax.scatter([], [], marker="^", color="tab:orange", label="mean over conditions")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Accuracy vs latency")
    return _png(fig)


def _md_to_html(md: str) -> str:
    """Our own Markdown (headings, paragraphs, pipe tables) as HTML; nothing else is needed for the reports."""
    out, table = [], []

    def flush():
        if table:
            head, *body = [r for r in table if not set(r.replace("|", "").strip()) <= set("-: ")]
            cells = lambda r: [html.escape(c.strip()) for c in r.strip().strip("|").split("|")]  # noqa: E731
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in cells(head)) + "</tr>"
                       + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells(r)) + "</tr>" for r in body)
                       + "</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level + 1}>{html.escape(line.lstrip('#').strip())}</h{level + 1}>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush()
    return "\n".join(out)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f3f3f3}img{max-width:100%;display:block;margin:0.5em 0 1.5em}.pick{background:#eef7ee;padding:0.6em}"""
# Lets a headless browser (and a test) confirm that every plot decoded: body data-plots / data-loaded.
_CHECK = """<script>window.addEventListener('load',()=>{const i=[...document.images];
document.body.dataset.plots=i.length;document.body.dataset.loaded=i.filter(x=>x.complete&&x.naturalWidth>0).length;});
</script>"""


def build_report(folder: str | Path) -> Path:
    """Write ``folder/report.html`` (and ``plots/*.png``, ``phone_default.json``) from the JSON results there."""
    folder = Path(folder)
    rob, lat = _load(folder / "robustness.json"), _load(folder / "latency.json")
    if rob is None and lat is None:
        raise FileNotFoundError(f"'{folder}' holds neither robustness.json nor latency.json; run `d3ke-edge bench "
                                "robustness` or `d3ke-edge bench latency` with --out there first")
    plots: list[tuple[str, str, bytes | None]] = []
    if rob:
        plots += [("severity", "Angle error vs severity", _severity_plot(rob)),
                  ("groups", "Clean angle error per joint group", _group_plot(rob)),
                  ("flip", "Clean vs flipped per side", _flip_plot(rob))]
    if lat:
        plots.append(("latency", "Latency", _latency_plot(lat)))
    joined = _joined(rob, lat) + _sweep_joined(rob, lat)
    plots.append(("pareto", "Accuracy vs latency", _pareto_plot(joined)))
    pick = phone_default(rob, lat)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>d3ke-edge benchmark report</title>",
             f"<style>{_STYLE}</style></head><body><h1>d3ke-edge benchmark report</h1>"]
    if pick:
        atomic_write_text(folder / "phone_default.json", json.dumps(pick, indent=2) + "\n")
        parts.append(f"<div class='pick'><b>Default phone artefact:</b> {html.escape(pick['name'])} — "
                     f"{pick['p50_ms']:.2f} ms p50, {pick['clean_deg']:.2f} deg clean, {pick['conditions_deg']:.2f} "
                     f"deg over conditions ({html.escape(pick['rule'])}).</div>")
    (folder / "plots").mkdir(exist_ok=True)
    for key, title, png in plots:
        if png is None:
            continue
        atomic_write_bytes(folder / "plots" / f"{key}.png", png)
        parts.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
                     f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    if rob:
        parts.append(_md_to_html(robustness_markdown(rob)))
    if lat:
        parts.append(_md_to_html(latency_markdown(lat)))
    browser = _load(folder / "browser_latency.json")
    if browser:  # the phone demo's models in Chromium (benchmarks/browser_latency.py --out here)

        parts.append(_md_to_html(browser_markdown(browser, screenshot=False)))
    parts.append(_CHECK + "</body></html>")
    atomic_write_text(folder / "report.html", "\n".join(parts))
    return folder / "report.html"
