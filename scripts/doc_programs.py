"""Write the documentation's complete programs out as modules, for the type checkers.

A ```python block of docs/*.md is a complete program when its first line is an import
and it is a valid module (no top-level ``await``): such a block must type-check as it
is written. Other blocks are fragments that lean on the page around them (one that
continues an example starts with a comment saying so) and are not checked.

    python scripts/doc_programs.py OUT_DIR     # prints the files written
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def is_program(code: str) -> bool:
    if not code.startswith(("import ", "from ")):
        return False
    try:
        compile(code, "<doc>", "exec")
    except SyntaxError:
        return False
    return True


def programs() -> list[tuple[str, int, str]]:
    """(page, line of the block, code) of every complete program."""
    found = []
    for source in SOURCES:
        text = source.read_text()
        for match in BLOCK.finditer(text):
            code = match.group(1)
            if is_program(code):
                line = text.count("\n", 0, match.start()) + 2
                found.append((source.relative_to(ROOT).as_posix(), line, code))
    return found


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.py"):
        old.unlink()
    for page, line, code in programs():
        name = re.sub(r"\W", "_", page.removesuffix(".md")) + f"_line{line}.py"
        header = f"# {page}, the block at line {line}\n"
        (out / name).write_text(header + code)
        print(out / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
