"""Writing one benchmark's section of docs/BENCHMARKS.md, leaving the other sections as they are."""

from __future__ import annotations

import os
import platform
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nEach figure is measured against a baseline in the same run on the same machine, "
    "so the ratios matter more than the absolute numbers. Re-run a section with the command it names.\n"
)


def machine_line() -> str:
    """Where and when a figure was measured."""
    return (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}, {platform.system()} {platform.release()}."
    )


def write_section(title: str, body: str) -> None:
    """Replace (or add) the ``## title`` section of the report."""
    text = REPORT.read_text() if REPORT.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.M | re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text.rstrip() + "\n")
