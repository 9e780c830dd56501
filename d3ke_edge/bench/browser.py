"""The phone demo's latency in the browser next to the Python runtime (``benchmarks/browser_latency.py`` measures,
this formats; ``bench report`` includes it)."""

from __future__ import annotations

__all__ = ["browser_markdown"]


def browser_markdown(r: dict, screenshot: bool = True) -> str:
    """The table of ``benchmarks/browser_latency.py``'s result (``browser_latency.json``)."""
    lines = ["# The phone demo's models: browser (LiteRT.js) vs Python (ai_edge_litert), same CPU", "",
             f"Measured on {r['machine']}; Chromium {r['chromium']}, LiteRT.js {r['litertjs']}, page cross-origin "
             f"isolated: {r['isolated']} (threads: {r['browser_threads']}). Median ms per call, warm.", "",
             "| model | browser | Python, 1 thread | Python, page's threads | browser / Python (1 thread) |",
             "|---|---|---|---|---|"]
    for name, v in r["models"].items():
        lines.append(f"| {name} | {v['browser_ms']:.2f} | {v['python_ms_1']:.2f} | {v['python_ms_threads']:.2f} | "
                     f"{v['browser_ms'] / v['python_ms_1']:.1f}x |")
    lines += ["", "Whole page per frame (tracking + model + head + drawing, median ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in r["page_stages_ms"].items()), "",
              *(["![phone viewport](screenshot_390x844.png)"] if screenshot else [])]
    return "\n".join(lines) + "\n"
