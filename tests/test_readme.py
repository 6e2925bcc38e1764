"""Every ```python block of README.md runs as written, and the quick start is two commands.

Each block runs on its own, in a fresh interpreter: a block that defines ``root`` is a
``moalab run`` script and runs as one (``--dry-run``: its delays pass in virtual time); a
block with a top-level ``await`` is notebook code and runs in a Jupyter kernel. A block
right after ``<!-- not run: REASON -->`` is left out (for one that needs a Pi, say).
"""

import ast
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

from tests.conftest import REPO
from tests.markdown import Block, blocks

README = REPO / "README.md"


def python_blocks() -> list[Block]:
    return [block for block in blocks(README.read_text()) if block.lang == "python"]


def defines_root(code: str) -> bool:
    return any(isinstance(node, ast.Assign)
               and any(isinstance(target, ast.Name) and target.id == "root"
                       for target in node.targets)
               for node in ast.parse(code).body)


def has_top_level_await(code: str) -> bool:
    try:
        compile(code, "README.md", "exec")
    except SyntaxError:
        compile(code, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        return True
    return False


def run_in_a_kernel(code: str, folder: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=60, startup_timeout=60,
                                     resources={"metadata": {"path": str(folder)}})
    client.execute()  # an exception in the cell raises CellExecutionError with its traceback


def run_block(block: Block, folder: Path) -> None:
    """Run ``block`` in ``folder`` as the module docstring says; fail with its output."""
    if has_top_level_await(block.code):
        run_in_a_kernel(block.code, folder)
        return
    script = folder / f"readme_line_{block.line}.py"
    script.write_text(block.code)
    command = [sys.executable, str(script)]
    if defines_root(block.code):
        command = [sys.executable, "-m", "moalab.cli.main", "run", "--dry-run", "--no-live",
                   "--log", str(folder / "log.csv"), str(script)]
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (
        f"README.md line {block.line}: {' '.join(command[1:])} exited {proc.returncode}:\n"
        f"{proc.stdout}\n{proc.stderr}"
    )


@pytest.mark.parametrize(
    "block", [block for block in python_blocks() if block.not_run is None],
    ids=lambda block: f"line{block.line}",
)
def test_python_block_runs(block, tmp_path):
    run_block(block, tmp_path)


def test_blocks_are_found_and_few_are_left_out():
    found = python_blocks()
    assert len(found) >= 1
    left_out = [block.line for block in found if block.not_run is not None]
    assert len(left_out) <= len(found) // 3, f"README.md blocks not run, at lines {left_out}"


def test_a_note_applies_to_the_next_block_only():
    text = ("<!-- not run: needs a Raspberry Pi -->\n```python\npi()\n```\n\n"
            "```python\nrun()\n```\n")
    assert [(b.line, b.code, b.not_run) for b in blocks(text)] == [
        (2, "pi()\n", "needs a Raspberry Pi"), (6, "run()\n", None)]


def test_quick_start_is_two_commands_demo_and_tests():
    section = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    (commands,) = [block.code for block in blocks(section) if block.lang == "sh"]
    lines = commands.strip().splitlines()
    assert len(lines) == 2, lines
    assert "moalab demo" in lines[0] and "python -m pytest" in lines[1]
