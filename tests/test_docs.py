"""The README is an entry point and the docs' numbers come from the results: every generated table equals what the
committed results say, the README stays short and lists every command, and every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from d3ke_edge.docs import documents, render, update

ROOT = Path(__file__).resolve().parents[1]


def test_every_generated_table_equals_what_the_committed_results_say():
    stale = update(ROOT, check=True)
    assert stale == [], f"run `python -m d3ke_edge.docs`: {[str(p.relative_to(ROOT)) for p in stale]} are out of date"
    blocks = sum(doc.read_text().count("<!-- table: ") for doc in documents(ROOT))
    assert blocks >= 15  # the README's headline and the docs' tables


def test_the_readme_is_an_entry_point_that_lists_every_command():
    import typer.main

    from d3ke_edge.cli import app

    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    for heading in ("## Install and the two commands", "## Run it on your video", "## Commands", "## Layout"):
        assert heading in text
    assert 'pip install -e ".[dev]" && d3ke-edge quickstart' in text and 'pip install -e ".[dev]" && pytest' in text

    def names(cmd, prefix: str) -> list[str]:
        subs = getattr(cmd, "commands", {})
        own = [prefix] if prefix and (not subs or getattr(cmd, "invoke_without_command", False)) else []
        return own + [n for k, c in subs.items() for n in names(c, f"{prefix} {k}".strip())]

    commands = names(typer.main.get_command(app), "")
    assert len(commands) >= 20
    missing = [c for c in commands if f"`d3ke-edge {c}" not in text]
    assert not missing, f"commands missing from the README's table: {missing}"


def test_every_relative_link_in_the_readme_and_docs_resolves():
    broken = []
    for doc in documents(ROOT) + [ROOT / "CHANGELOG.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)", doc.read_text()):
            if "://" not in target and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_a_missing_result_or_an_unknown_table_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="reference_bench.json', which is missing"):
        render("<!-- table: headline -->\n<!-- end table -->\n", tmp_path)
    with pytest.raises(KeyError, match="table 'nonsense', which does not exist"):
        render("<!-- table: nonsense -->\nold\n<!-- end table -->\n", ROOT, "x.md")
