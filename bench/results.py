"""Rewriting one benchmark's section of bench/RESULTS.md, leaving the others as they are."""

import re
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\nFigures from `make bench`. Each section is rewritten by its own run.\n"
)


def write_section(name: str, body: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    section = f"<!-- {name} -->\n## {name}\n\n{body.strip()}\n<!-- /{name} -->"
    pattern = re.compile(rf"<!-- {name} -->.*?<!-- /{name} -->", re.DOTALL)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else (text.rstrip() + "\n\n" + section + "\n")
    )
    RESULTS.write_text(text)
