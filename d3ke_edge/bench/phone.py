"""Reading phone measurements back: the output of LiteRT's ``benchmark_model`` (run on an Android phone by
``benchmarks/phone/android_litert.sh``) as the same row fields ``latency.json`` uses. Phones cannot be reached from
the machines that build this toolkit, so these numbers come only from a user's own device."""

from __future__ import annotations

import re

__all__ = ["parse_benchmark_model"]

_TIMINGS = re.compile(r"Inference timings in us: Init: ([\d.]+), First inference: ([\d.]+), "
                      r"Warmup \(avg\): ([\d.e+]+), Inference \(avg\): ([\d.e+]+)")
_NODE_ROW = re.compile(r"^\s*([A-Za-z_][\w]*)\s+(\d+)\s+([\d.]+)\s+([\d.]+)%")
_MEMORY = re.compile(r"Peak memory footprint \(MB\): init=([\d.]+) overall=([\d.]+)")
_PERCENTILES = re.compile(r"count=(\d+) first=(\d+) curr=(\d+) min=(\d+) max=(\d+) avg=([\d.e+]+) std=(\d+)"
                          r"(?: p5=(\d+) median=(\d+) p95=(\d+))?")


def parse_benchmark_model(text: str) -> dict:
    """Load/first-call/mean latency (ms), percentiles when reported, peak memory and the op profile by node type
    (``--enable_op_profiling=true``) from one ``benchmark_model`` log; a log without timings is an error."""
    m = _TIMINGS.search(text)
    if not m:
        raise ValueError("no 'Inference timings in us' line: the benchmark did not finish (see its log)")
    init, first, _, avg = (float(x) / 1e3 for x in m.groups())
    row = {"load_s": init / 1e3, "first_ms": first, "mean_ms": avg, "fps": 1e3 / avg if avg else float("nan")}
    runs = [p for p in _PERCENTILES.finditer(text)]
    if runs and runs[-1].group(9):  # the last 'count=' line is the timed runs
        row["p50_ms"] = float(runs[-1].group(9)) / 1e3
        row["p95_ms"] = float(runs[-1].group(10)) / 1e3
    mem = _MEMORY.search(text)
    if mem:
        row["rss_peak_mb"] = float(mem.group(2))
    ops = {}
    section = text.split("Summary by node type", 1)
    if len(section) == 2:  # "[Node type] [count] [avg ms] [avg %] [cdf %] ..." rows until the next blank line
        for line in section[1].split("\n\n", 1)[0].splitlines():
            row_m = _NODE_ROW.match(line)
            if row_m:
                ops[row_m.group(1)] = {"count": int(row_m.group(2)), "avg_ms": float(row_m.group(3)),
                                       "percent": float(row_m.group(4))}
    if ops:
        row["op_profile"] = ops
    return row
