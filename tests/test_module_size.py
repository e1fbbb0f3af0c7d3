"""No module in `membership/` is over 500 lines: a longer one is split by concern (docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "membership"
MAX_LINES = 500


def oversized_modules() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            found.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines")
    return found


def test_no_module_is_over_500_lines() -> None:
    assert oversized_modules() == []
