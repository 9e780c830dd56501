"""``d3ke-edge motions``: the bank of recorded motion the synthetic engine draws from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import console, err_console, fail

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("import")
def import_(
    sources: Annotated[list[Path], typer.Argument(help="Motion files or folders (searched recursively): OpenSim .mot/.sto with the skeleton's coordinate names — e.g. your lab's IK results — and DeepMimic clips (retargeted by a fit of our FK to their joint centres).")],
    out: Annotated[Path, typer.Option("--out", help="The bank folder (clips/*.npz, manifest.json/.md); replaced as a whole.")],
    fps: Annotated[float, typer.Option("--fps", help="Every clip is resampled to this rate.")] = 60.0,
    osim: Annotated[Optional[Path], typer.Option("--osim", help="The skeleton the bank is for (default: the built-in one).")] = None,
    no_mirror: Annotated[bool, typer.Option("--no-mirror", help="Do not store mirrored copies.")] = False,
    reproduce: Annotated[Optional[Path], typer.Option("--reproduce", help="Rebuild the bank this manifest describes (a manifest.json or a bank folder; e.g. a model's bank_manifest.json): only the files it imported (and the rest of their retargeting folders), with its settings (--fps and --no-mirror are not used); refused unless the result is that bank (its hash).")] = None,
) -> None:
    """Recorded motion into a bank in the skeleton's coordinates: read by name or retargeted, ranges checked (clamped,
    replaced or refused by rule), resampled, mirrored, split by trial into train/val/test; a manifest with each
    clip's source, licence, fit error and what was done to it."""
    from ..data.motion_bank import BankConfig, BankError, import_bank
    from ..skeleton.builtin import builtin_skeleton

    try:
        cfg = BankConfig(fps=fps, mirror=not no_mirror)
    except ValueError as exc:
        fail(str(exc))
    skel = builtin_skeleton() if osim is None else _skeleton(osim)
    like = _manifest(reproduce) if reproduce is not None else None
    try:
        m = import_bank(sources, out, skel, cfg, say=lambda s: err_console.print(f"[dim]{s}[/]", highlight=False),
                        like=like)
    except BankError as exc:
        fail(str(exc))
    s = m["summary"]
    console.print(f"{s['imported']} of {s['files']} files imported ({s['refused']} refused, reasons in "
                  f"manifest.md); seconds per split: " + ", ".join(f"{k} {v:g}" for k, v in s["seconds"].items()))
    console.print(f"written to {out}: clips/, manifest.json, manifest.md (bank hash {m['bank_hash'][:16]})")


def _manifest(path: Path) -> dict:
    """The manifest ``--reproduce`` names (a file or a bank folder), checked to be one."""
    import json

    file = path / "manifest.json" if path.is_dir() else path
    try:
        m = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        fail(f"--reproduce: cannot read a manifest from '{path}' ({exc}); give a bank's manifest.json or its folder")
    if not isinstance(m, dict) or not {"bank_hash", "config", "clips"} <= set(m):
        fail(f"--reproduce: '{file}' is not a motion bank's manifest (it needs bank_hash, config and clips)")
    return m


def _skeleton(osim: Path):
    from ..skeleton.osim_parse import OsimError, load_osim

    try:
        return load_osim(osim)
    except (OSError, OsimError) as exc:
        fail(str(exc))
