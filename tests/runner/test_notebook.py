"""examples/notebook.ipynb runs on a real Jupyter kernel: the experiment runs in the
background, the kernel answers meanwhile, and pause, resume, wait and the log work."""

from pathlib import Path

import nbclient
import nbformat

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "notebook.ipynb"


def _html(cell) -> str:
    return "".join(
        output.get("data", {}).get("text/html", "")
        for output in cell.outputs
        if output.get("output_type") in ("execute_result", "display_data")
    )


def test_the_notebook_runs_an_experiment_without_blocking_the_kernel():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=60,
        startup_timeout=60,
        resources={"metadata": {"path": str(REPO)}},
    )
    # a failing assert in a cell raises CellExecutionError with that cell's traceback
    client.execute()

    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.outputs is not None for cell in code)
    errors = [out for cell in code for out in cell.outputs if out.output_type == "error"]
    assert errors == []

    tree, started = _html(code[0]), _html(code[1])
    assert 'class="moalab-stage-tree"' in tree
    for name in ("Root stage", "Habituation", "Trial", "photobeam_stage", "ITI", "post delay"):
        assert name in tree
    assert ">idle<" in tree
    assert 'class="moalab-run"' in started and ">running<" in started

    waited = next(_html(cell) for cell in code if "await handle.wait()" in cell.source)
    assert ">done<" in waited
    final_tree = _html(code[-1])
    assert final_tree.count(">done<") == 7  # every stage of the tree
