"""``python -m d3ke_edge.docs [--check] [--root DIR]``: rewrite the README's and docs/' tables from the results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import update


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table differs from the results")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                    help="the repository (default: the one this package is in)")
    a = ap.parse_args()
    stale = update(a.root, check=a.check)
    for doc in stale:
        print(("out of date: " if a.check else "rewrote: ") + str(doc.relative_to(a.root)))
    if not stale:
        print("every table matches the results")
    return 1 if a.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
