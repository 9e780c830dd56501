"""The house rules, read from the source: which rooms may import which, imports at the top, no private names taken
across modules, short functions, and a core that imports on the GPU machine (torch, torchvision, numpy, h5py,
opencv, typer, rich — none of the converters, runtimes or opensim)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "d3ke_edge"
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = (path, ast.parse(path.read_text()))
    return out


def _own_imports(name: str, path: Path, tree: ast.Module) -> list[tuple[ast.AST, str, list[str]]]:
    """(node, imported module, names) for every import of the package's own modules, nested ones included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "d3ke_edge":
                found.append((node, module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node, a.name, []) for a in node.names if a.name.split(".")[0] == "d3ke_edge"]
    return found


MODULES = _modules()


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_rooms_import_downward_only():
    """Nothing that runs or measures artefacts imports the converters; data builds on video's BlazePose facts and
    video imports nothing from data."""
    forbidden = {room: {"export"} for room in ("runtime", "infer", "bench", "video", "demo", "artefacts")}
    forbidden["video"].add("data")
    bad = []
    for name, (path, tree) in MODULES.items():
        for node, module, _ in _own_imports(name, path, tree):
            if _room(module) in forbidden.get(_room(name), ()):
                bad.append(f"{name}:{node.lineno} imports {module}")
    assert not bad, bad


def test_no_arrow_runs_back_up():
    """The rooms (the package's folders) and who imports whom form floors: no two rooms import each other, however
    indirectly."""
    arrows: dict[str, set[str]] = {}
    for name, (path, tree) in MODULES.items():
        for _, module, names in _own_imports(name, path, tree):
            targets = [f"{module}.{n}" for n in names] if module == "d3ke_edge" else [module]
            for target in targets:
                if _room(target) not in ("", _room(name), "__version__"):
                    arrows.setdefault(_room(name), set()).add(_room(target))
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def cycle_from(room: str, path: list[str]) -> list[str] | None:
        state[room] = 1
        for nxt in sorted(arrows.get(room, ())):
            if state.get(nxt) == 1:
                return path + [room, nxt]
            if nxt not in state and (found := cycle_from(nxt, path + [room])):
                return found
        state[room] = 2
        return None

    for room in sorted(arrows):
        found = None if room in state else cycle_from(room, [])
        assert found is None, " -> ".join(found)


def test_the_package_imports_its_own_modules_at_the_top():
    """Outside cli/ (whose commands import what they run when run), an import of the package's own modules inside a
    function must say on its line why (which heavy dependency it avoids)."""
    bad = []
    for name, (path, tree) in MODULES.items():
        if _room(name) == "cli":
            continue
        top = {id(n) for n in tree.body}
        lines = path.read_text().splitlines()
        for node, module, _ in _own_imports(name, path, tree):
            if id(node) not in top and "#" not in lines[node.lineno - 1]:
                bad.append(f"{name}:{node.lineno} {module}")
    assert not bad, bad


def test_no_private_name_is_taken_from_another_module():
    bad = [f"{name}:{node.lineno} {module}.{n}" for name, (path, tree) in MODULES.items()
           for node, module, names in _own_imports(name, path, tree) for n in names
           if n.startswith("_") and not n.startswith("__")]
    assert not bad, bad


def test_no_function_is_longer_than_a_screen():
    long = [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
            for name, (_, tree) in MODULES.items() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, long


def test_the_core_imports_with_only_the_gpu_machines_packages():
    """The lent GPU machine has torch, torchvision, numpy, h5py, opencv, typer and rich: the core (skeleton, data,
    models, train) and the inference path import there; converters, runtimes and opensim are imported where used."""
    code = textwrap.dedent("""
        import importlib, importlib.abc, importlib.machinery, pkgutil, sys
        MISSING = {"opensim", "coremltools", "ai_edge_litert", "litert_torch", "ai_edge_quantizer", "onnx",
                   "onnxruntime", "onnxscript", "c3d", "scipy", "matplotlib", "yaml", "playwright", "flatbuffers"}
        class Absent(importlib.abc.Loader):
            def create_module(self, spec):
                raise ImportError(f"{spec.name} is not on the GPU machine")
            def exec_module(self, module):
                pass
        class Finder(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                return importlib.machinery.ModuleSpec(name, Absent()) if name.split(".")[0] in MISSING else None
        sys.meta_path.insert(0, Finder())
        import d3ke_edge
        failed = []
        for room in ("skeleton", "io", "data", "models", "train", "video", "runtime", "infer", "artefacts"):
            mod = importlib.import_module(f"d3ke_edge.{room}")
            names = [mod.__name__] + [m.name for m in pkgutil.walk_packages(getattr(mod, "__path__", []), mod.__name__ + ".")]
            for n in names:
                try:
                    importlib.import_module(n)
                except ImportError as exc:
                    failed.append(f"{n}: {exc}")
        print("\\n".join(failed))
        sys.exit(1 if failed else 0)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]
