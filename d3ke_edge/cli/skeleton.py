"""``d3ke-edge skeleton ...``: check our FK against opensim, write the built-in model, verify mirroring."""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.table import Table

from .common import console, fail, progress

app = typer.Typer(no_args_is_help=True)

ModelArg = Annotated[
    str, typer.Argument(help="An OpenSim 4.x .osim file, or 'builtin' for the d3ke-edge full-body model.")
]
MarkersOpt = Annotated[
    Optional[Path], typer.Option("--markers", help="OpenSim MarkerSet .xml to merge into the model (Pose2Sim style).")
]


@contextmanager
def _model_file(model: str, markers: Path | None) -> Iterator[tuple[Path, Path | None]]:
    """Resolve MODEL to a file on disk (the built-in model is written to a temporary .osim)."""
    from ..skeleton.osim_parse import OsimError

    if markers is not None and not markers.is_file():
        fail(f"marker file '{markers}' does not exist; pass an OpenSim MarkerSet .xml")
    if model != "builtin":
        path = Path(model)
        if not path.is_file():
            fail(f"model file '{path}' does not exist; pass an OpenSim 4.x .osim or 'builtin'")
        try:
            yield path, markers
        except OsimError as exc:
            fail(str(exc))
        return
    from ..skeleton.builtin import builtin_skeleton
    from ..skeleton.osim_write import write_osim

    with tempfile.TemporaryDirectory() as tmp:
        path = write_osim(builtin_skeleton(), Path(tmp) / "d3ke_edge_fullbody.osim")
        yield path, markers


def _worst_table(title: str, errors: dict[str, float], top: int) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("name")
    table.add_column("max error (m)", justify="right")
    for name, err in sorted(errors.items(), key=lambda kv: -kv[1])[:top]:
        table.add_row(name, f"{err:.2e}")
    return table


@app.command("check")
def check(
    model: ModelArg,
    markers: MarkersOpt = None,
    poses: Annotated[int, typer.Option("--poses", min=1, help="Random poses (uniform in coordinate ranges).")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the pose and body-scale sampling.")] = 0,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Pass threshold on every position error (m).")] = 1e-5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    top: Annotated[int, typer.Option("--top", help="Rows per table (worst first); 0 shows all.")] = 0,
) -> None:
    """Compare our FK with opensim 4.6 on random poses and random body scales (0.8-1.2 per axis).

    Exits 0 only when every body origin, joint centre and marker is within --tolerance of opensim.
    """
    from ..skeleton.opensim_ref import check_against_opensim

    with _model_file(model, markers) as (path, mk), progress("opensim poses", poses, enabled=not as_json) as step:
        report = check_against_opensim(path, mk, n_poses=poses, seed=seed, tolerance_m=tolerance, on_pose=step)
    if model == "builtin":
        report.model = "builtin"
    if as_json:
        print(json.dumps(report.to_json()))
    else:
        n = top or None
        console.print(_worst_table("bodies (origin)", report.body_err_m, n or len(report.body_err_m)))
        if report.marker_err_m:
            console.print(_worst_table("markers", report.marker_err_m, n or len(report.marker_err_m)))
        verdict = "[green]PASS[/]" if report.passed else "[red]FAIL[/]"
        console.print(
            f"{verdict} {report.model}: {report.n_poses} poses, max body {report.max_body_err_m:.2e} m, "
            f"joint {report.max_joint_err_m:.2e} m, marker {report.max_marker_err_m:.2e} m (tolerance {tolerance:.0e} m); "
            f"opensim {report.opensim_seconds:.2f} s, ours {report.ours_seconds * 1e3:.1f} ms"
        )
    raise typer.Exit(0 if report.passed else 1)


@app.command("builtin")
def builtin(
    out: Annotated[Path, typer.Option("--out", help="Where to write the .osim file.")] = Path("d3ke_edge_fullbody.osim"),
) -> None:
    """Write the built-in full-body model (40 coordinates, 51 markers) as an OpenSim 4 .osim file."""
    from ..skeleton.builtin import builtin_skeleton
    from ..skeleton.osim_write import write_osim

    skel = builtin_skeleton()
    write_osim(skel, out)
    console.print(f"wrote {out} ({len(skel.bodies)} bodies, {len(skel.coordinates)} coordinates, "
                  f"{len(skel.markers)} markers, hash {skel.hash})")


@app.command("mirror")
def mirror(
    model: ModelArg,
    markers: MarkersOpt = None,
    poses: Annotated[int, typer.Option("--poses", min=1, help="Random poses for the verification.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the pose sampling.")] = 0,
    tolerance: Annotated[float, typer.Option("--tolerance", help="Pass threshold on position errors (m).")] = 1e-6,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Derive the left/right mirror of poses and verify FK(mirror(q)) == reflect(FK(q)).

    Markers of an asymmetric marker set are listed and left out of the marker error (never silently).
    """
    from ..skeleton.mirror import derive_mirror, mirror_error
    from ..skeleton.osim_parse import load_osim

    with _model_file(model, markers) as (path, mk):
        skel = load_osim(path, mk)
        try:
            m = derive_mirror(skel, strict_markers=False)
        except ValueError as exc:
            fail(str(exc), code=1)
        err = mirror_error(skel, m, poses, seed)
    flipped = [n for n, s in zip(skel.coordinate_names, m.coord_sign) if s < 0]
    ok = max(err["bodies"], err["joints"], err["markers"]) <= tolerance
    if as_json:
        print(json.dumps({"model": model, **{f"max_{k}_err": v for k, v in err.items()}, "negated": flipped,
                          "asymmetric_markers": dict(m.asymmetric_markers), "passed": ok}))
    else:
        console.print(f"negated under mirroring: {', '.join(flipped)}")
        if m.asymmetric_markers:
            console.print("[yellow]asymmetric markers (left out):[/] "
                          + ", ".join(f"{n} ({d * 1e3:.2f} mm)" for n, d in m.asymmetric_markers))
        console.print(("[green]PASS[/]" if ok else "[red]FAIL[/]") + " " + ", ".join(f"{k} {v:.1e}" for k, v in err.items()))
    raise typer.Exit(0 if ok else 1)
