"""What an exported artefact is, for everyone who writes or reads one: the targets and their file types, where each
format keeps the embedded metadata, the files an export folder holds, and reading that metadata back.

No converter code lives here (``export`` writes artefacts, ``runtime`` runs them; both take their facts from this
module). The graphs' input and output names are ``models.graphs``'; the metadata's content is ``export.metadata``'s.
Each format's reader imports its runtime package only when called.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

__all__ = ["TARGETS", "PRECISIONS", "EXTENSIONS", "METADATA_KEY", "TORCHSCRIPT_METADATA_FILE", "PARITY_FILE",
           "PHONE_DEFAULT_FILE", "RUNTIME_FOLDERS", "HEAD_PREFERENCE", "sidecar", "size_mb", "read_metadata",
           "pick_head", "by_type"]

TARGETS = ("tflite", "coreml", "torchscript", "onnx")
# What each target implements. int8: static int8 backbone (TFLite, ONNX, TorchScript) or int8 weights (Core ML).
PRECISIONS = {"tflite": ("fp32", "int8"), "coreml": ("fp32", "fp16", "int8"), "torchscript": ("fp32", "int8"),
              "onnx": ("fp32", "int8")}
EXTENSIONS = {"tflite": ".tflite", "coreml": ".mlpackage", "torchscript": ".pt", "onnx": ".onnx"}

# The metadata is one JSON document under this name: TFLite's metadata table entry, Core ML's user-defined metadata
# key, ONNX's metadata_props key; TorchScript keeps it as an extra file of the archive.
METADATA_KEY = "d3ke_metadata"
TORCHSCRIPT_METADATA_FILE = "d3ke_metadata.json"
PARITY_FILE = "parity.json"  # an export folder's checks, one row per artefact
PHONE_DEFAULT_FILE = "phone_default.json"  # the artefact the benchmark report chose for the phone
# a runtime's name -> the export folder and file suffix that hold its artefacts
RUNTIME_FOLDERS = {"litert": ("tflite", ".tflite"), "onnx": ("onnx", ".onnx"), "torchscript": ("torchscript", ".pt"),
                   "coreml": ("coreml", ".mlpackage")}
HEAD_PREFERENCE = ("gru_causal", "tcn_causal", "transformer_causal")  # head "auto": the first one present


def sidecar(artefact: str | Path) -> Path:
    """The readable copy of an artefact's metadata written beside it (``per_frame_fp32.tflite`` ->
    ``per_frame_fp32.json``)."""
    return Path(artefact).with_suffix(".json")


def pick_head(head: str, available: list[str], where: str) -> str | None:
    """Which causal head runs: ``none`` (None), ``auto`` (the first of ``HEAD_PREFERENCE`` in ``available``, else
    None) or a name that must be in ``available`` (``where`` names the place for the error)."""
    if head == "none":
        return None
    if head == "auto":
        return next((h for h in HEAD_PREFERENCE if h in available), None)
    if head not in available:
        raise ValueError(f"no causal head '{head}' in {where}; it has: {', '.join(available) or 'none'} "
                         "(or head none / auto)")
    return head


def size_mb(path: str | Path) -> float:
    """An artefact's size in MB (a file, or every file of a package folder such as .mlpackage)."""
    path = Path(path)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def _not_ours(path: Path) -> ValueError:
    return ValueError(f"'{path}' has no {METADATA_KEY}: not a d3ke-edge export")


def _tflite(path: Path) -> dict:
    from ai_edge_litert import schema_py_generated as schema

    data = path.read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        if m.Name() == METADATA_KEY.encode():
            return json.loads(bytes(model.Buffers(m.Buffer()).DataAsNumpy()).decode())
    raise _not_ours(path)


def _onnx(path: Path) -> dict:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    raise _not_ours(path)


def _torchscript(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:  # torch.jit.save's archive: <name>/extra/<file>
        for name in z.namelist():
            if name.endswith(f"/extra/{TORCHSCRIPT_METADATA_FILE}"):
                return json.loads(z.read(name))
    raise _not_ours(path)


def _coreml(path: Path) -> dict:
    import coremltools as ct

    meta = ct.utils.load_spec(str(path)).description.metadata.userDefined.get(METADATA_KEY)
    if meta is None:
        raise _not_ours(path)
    return json.loads(meta)


_READERS = {".tflite": _tflite, ".onnx": _onnx, ".pt": _torchscript, ".mlpackage": _coreml}


def by_type(path: Path, table: dict):
    """``table``'s entry for an existing artefact's file type (its suffix); a missing file or an unknown type is
    named."""
    if not path.exists():
        raise FileNotFoundError(f"artefact '{path}' does not exist")
    if path.suffix not in table:
        raise ValueError(f"'{path}': unknown artefact type '{path.suffix}'; expected one of {sorted(table)}")
    return table[path.suffix]


def read_metadata(path: str | Path) -> dict:
    """The metadata embedded in an artefact, read without loading it into its runtime."""
    path = Path(path)
    reader = by_type(path, _READERS)
    try:
        return reader(path)
    except (zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ValueError(f"'{path}' is not a readable {path.suffix} artefact ({exc}); export it again") from exc
