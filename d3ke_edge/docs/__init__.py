"""The generated parts of the README and ``docs/``: every table of numbers sits in a block

    <!-- table: NAME -->
    ...
    <!-- end table -->

whose content ``python -m d3ke_edge.docs`` rewrites from the committed results (``tables.TABLES[NAME]``);
``--check`` changes nothing and exits 1 when a block differs from what the results say (the test runs it).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..utils.atomic import atomic_write_text
from .tables import TABLES

__all__ = ["TABLES", "documents", "render", "update"]

BLOCK = re.compile(r"(<!-- table: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)


def documents(root: Path) -> list[Path]:
    """The files that may hold blocks: the README and every page under ``docs/``."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def render(text: str, root: Path, where: str = "") -> str:
    """``text`` with every block's content made from the results under ``root``; an unknown name is an error."""
    def fill(m: re.Match) -> str:
        name = m["name"]
        if name not in TABLES:
            raise KeyError(f"{where or 'a document'} has a block for table '{name}', which does not exist "
                           f"(tables: {', '.join(TABLES)})")
        return m[1] + TABLES[name](root).rstrip() + "\n" + m[4]

    return BLOCK.sub(fill, text)


def update(root: Path, check: bool = False) -> list[Path]:
    """Rewrite every document's blocks (or, with ``check``, only report them) -> the documents that were (or would
    be) changed."""
    stale = []
    for doc in documents(root):
        if not doc.is_file():
            continue
        text = doc.read_text()
        new = render(text, root, str(doc.relative_to(root)))
        if new != text:
            stale.append(doc)
            if not check:
                atomic_write_text(doc, new)
    return stale
