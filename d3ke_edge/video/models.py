"""BlazePose's detector and landmark models (Apache-2.0), taken from the ``mediapipe`` wheel without installing it.

``mediapipe==0.10.21`` (PyPI) ships ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` inside its wheel;
``fetch_models`` downloads that wheel with pip (``--no-deps``: mediapipe itself, which pins numpy<2, is never
installed), extracts the two models and the licence, checks their pinned sha256 sums and caches them in
``$D3KE_EDGE_CACHE/blazepose`` (default ``$XDG_CACHE_HOME/d3ke-edge`` or ``~/.cache/d3ke-edge``). Later calls read
the cache. Offline without a cache is one error that names the manual command.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..utils.atomic import atomic_write_bytes

__all__ = ["BLAZEPOSE_FILES", "MODEL_WHEEL", "ModelFetchError", "cache_dir", "fetch_models", "manual_command"]

MODEL_WHEEL = "mediapipe==0.10.21"
_PLATFORM = "manylinux_2_28_x86_64"  # the 0.10.21 wheel with the models; 0.10.18 manylinux_2_17 holds the same bytes


@dataclass(frozen=True)
class ModelFile:
    member: str  # path inside the wheel
    size: int
    sha256: str


BLAZEPOSE_FILES = {
    "pose_detection.tflite": ModelFile("mediapipe/modules/pose_detection/pose_detection.tflite", 2_959_046,
                                       "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"),
    "pose_landmark_full.tflite": ModelFile("mediapipe/modules/pose_landmark/pose_landmark_full.tflite", 6_440_512,
                                           "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"),
    "LICENSE": ModelFile("mediapipe-0.10.21.dist-info/LICENSE", 12_331,
                         "8707eef0533987efc5b155d64761eeb6e20793f50b9bd1a68dad1cf4719d0ed8"),
}


class ModelFetchError(RuntimeError):
    """The BlazePose models could not be obtained (offline, a changed wheel, a corrupt cache)."""


def cache_dir() -> Path:
    root = os.environ.get("D3KE_EDGE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
        "d3ke-edge"
    return Path(root) / "blazepose"


def manual_command(dest: Path | None = None) -> str:
    dest = dest or cache_dir()
    return (f"pip download {MODEL_WHEEL} --no-deps --only-binary=:all: --python-version 3.11 --platform {_PLATFORM} "
            f"-d WHEEL_DIR, then unzip {', '.join(f.member for f in BLAZEPOSE_FILES.values())} from it into {dest} "
            "(file names without their folders)")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cached(dest: Path) -> dict[str, Path] | None:
    paths = {name: dest / name for name in BLAZEPOSE_FILES}
    if not all(p.is_file() for p in paths.values()):
        return None
    for name, p in paths.items():
        if _sha256(p.read_bytes()) != BLAZEPOSE_FILES[name].sha256:
            raise ModelFetchError(f"cached '{p}' does not match its pinned sha256 (a corrupt or replaced file); delete "
                                  f"{dest} and run `d3ke-edge models fetch` again")
    return paths


def fetch_models(progress: Callable[[str], object] | None = None, dest: Path | None = None) -> dict[str, Path]:
    """The cached model files by name, downloading and checking them first if needed."""
    say = progress or (lambda msg: None)
    dest = dest or cache_dir()
    have = _cached(dest)
    if have:
        return have
    say(f"fetching BlazePose models from the {MODEL_WHEEL} wheel (35.6 MB, once) into {dest}")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", MODEL_WHEEL, "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--platform", _PLATFORM, "-d", tmp, "--quiet", "--disable-pip-version-check"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("mediapipe-*.whl"))
        if res.returncode != 0 or not wheels:
            reason = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no wheel downloaded"]
            raise ModelFetchError(f"could not download {MODEL_WHEEL} ({reason[0]}); offline? Fetch it by hand: "
                                  f"{manual_command(dest)}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            blobs = {}
            for name, spec in BLAZEPOSE_FILES.items():
                try:
                    data = wheel.read(spec.member)
                except KeyError:
                    raise ModelFetchError(f"{wheels[0].name} has no {spec.member}; the pinned wheel changed") from None
                if len(data) != spec.size or _sha256(data) != spec.sha256:
                    raise ModelFetchError(f"{spec.member} in {wheels[0].name} does not match its pinned size and "
                                          "sha256; refusing an unverified model")
                blobs[name] = data
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in blobs.items():
        atomic_write_bytes(dest / name, data)
    return {name: dest / name for name in BLAZEPOSE_FILES}
