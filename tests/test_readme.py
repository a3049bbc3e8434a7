"""The README stays true: CI runs its test command verbatim, and its schema table is current."""

from __future__ import annotations

from pathlib import Path

from analysis.schema import schema_markdown

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    blocks = text.split("```bash\n")[1:]
    return [b.split("```")[0].strip() for b in blocks]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    test_command = next(b for b in _bash_blocks(readme) if "pytest" in b)
    assert test_command in (ROOT / ".ci" / "run").read_text()
    assert "torch==2.13.0" in test_command
    main_command = _bash_blocks(readme)[0]
    assert "torch==2.13.0" in main_command and main_command.endswith("mosaic-dse search")


def test_readme_schema_table_is_generated_from_the_schema():
    assert schema_markdown() in (ROOT / "README.md").read_text()
