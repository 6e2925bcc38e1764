"""Every code block of the site's tutorials and how-to pages runs as written, in order.

A page runs as a reader follows it, in a fresh folder with a home of its own (no lab,
token or config of this machine's), on a fresh install:

- a block with ``:caption: NAME`` is a file the reader saves: it is written to NAME;
- a ``python`` block runs in the page's Jupyter kernel (one for the page, so blocks share
  their names, and a top-level ``await`` works as in a notebook);
- a ``console`` block's ``$ `` lines are shell commands (a line ending in ``\\`` goes on);
  each must exit 0; the other lines are the output a reader sees, not checked;
- ``<!-- background: PORT -->`` before a console block starts its commands in the
  background (a server), waits until 127.0.0.1:PORT accepts a connection, and stops them
  when the page ends;
- ``<!-- not run: REASON -->`` leaves a block out (one that needs a Pi's pins, say).

Blocks in other languages (``toml`` without a caption, ``text``) are shown, not run.
Pages are followed two at a time, so each background port is one page's own; under
pytest-xdist this module's tests all run in one worker (``--dist loadfile``), which
follows each page once.
Runs are dry: a page runs its sessions with ``--dry-run`` (virtual time), its GPIO pins
are gpiozero's mock pins (``GPIOZERO_PIN_FACTORY=mock``).
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import nbclient
import nbformat
import pytest

from tests.conftest import REPO, stop_group
from tests.markdown import Block, blocks

DOCS = REPO / "docs"
PAGES = sorted(p for folder in ("tutorials", "howto") for p in (DOCS / folder).glob("*.md")
               if p.name != "index.md")
RUN = ("python", "console")
COMMAND_TIMEOUT = 180
AT_ONCE = 2
"""Pages followed at once: most of a page's time is its commands starting Python, one
core each, and CI has two."""


def page_env(folder: Path) -> dict[str, str]:
    """A fresh install's environment: this interpreter's scripts first on PATH, a home of
    the page's own, none of the test run's moalab settings."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MOALAB_", "XDG_", "PYTHONPATH", "JUPYTER", "IPYTHON"))}
    home = folder.parent / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                     env.get("PATH", "")]),
               MPLBACKEND="Agg", GPIOZERO_PIN_FACTORY="mock", COLUMNS="100")
    return env


def commands(code: str) -> list[str]:
    """The shell commands of a console block: its ``$ `` lines, with their continuations."""
    found, lines = [], iter(code.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            continue
        command = line[2:]
        while command.endswith("\\"):  # bash joins the lines itself
            command += "\n" + next(lines, "")
        found.append(command)
    return found


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def wait_for_port(port: int, process: subprocess.Popen, log: Path, where: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{where}: the background command exited {process.returncode}:\n"
                        f"{log.read_text()}")
        if listening(port):
            return
        time.sleep(0.1)
    pytest.fail(f"{where}: nothing listens on 127.0.0.1:{port} after 60 s")


class PageRun:
    """One page followed in ``folder``: its kernel and background commands, stopped at
    the end."""

    def __init__(self, page: Path, folder: Path, stack: ExitStack):
        self.page, self.folder, self.stack = page.relative_to(REPO), folder, stack
        self.env = page_env(folder)
        self.kernel: nbclient.NotebookClient | None = None
        self.notebook = nbformat.v4.new_notebook()
        self.logs: list[Path] = []  # the background commands' output, one file each

    def run(self, block: Block) -> None:
        where = f"{self.page} line {block.line}"
        if "caption" in block.options:
            path = self.folder / block.options["caption"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.code)
        elif block.lang == "python":
            self.run_python(block.code, where)
        elif block.lang == "console":
            for command in commands(block.code):
                if "background" in block.notes:
                    self.start(command, int(block.notes["background"]), where)
                else:
                    self.shell(command, where)

    def shell(self, command: str, where: str) -> None:
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=self.folder,
                              env=self.env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
        assert proc.returncode == 0, (
            f"{where}: `{command}` exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            f"{self.background_output()}")

    def start(self, command: str, port: int, where: str) -> None:
        if listening(port):  # another run's server would answer this page's commands
            pytest.fail(f"{where}: 127.0.0.1:{port} is in use before the page's background "
                        "command starts: stop what listens there")
        log = self.folder.parent / f"background-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("w") as output:  # a file, not a pipe that fills and stalls a server
            process = subprocess.Popen(["bash", "-c", command], cwd=self.folder,
                                       env=self.env, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.stack.callback(stop_group, process)
        wait_for_port(port, process, log, where)

    def background_output(self) -> str:
        """The last lines of each background command's output, for a failure's message."""
        return "".join(f"\n--- {log.name}, its last lines:\n"
                       + "\n".join(log.read_text().splitlines()[-40:]) for log in self.logs)

    def run_python(self, code: str, where: str) -> None:
        if self.kernel is None:
            self.kernel = nbclient.NotebookClient(
                self.notebook, kernel_name="python3", timeout=COMMAND_TIMEOUT,
                startup_timeout=60, resources={"metadata": {"path": str(self.folder)}})
            self.stack.enter_context(self.kernel.setup_kernel(env=self.env))
        cell = nbformat.v4.new_code_cell(code)
        self.notebook.cells.append(cell)
        try:
            self.kernel.execute_cell(cell, len(self.notebook.cells) - 1)
        except nbclient.exceptions.CellExecutionError as error:
            pytest.fail(f"{where}: the python block raised:\n{error}"
                        f"{self.background_output()}", pytrace=False)


def page_blocks(page: Path) -> list[Block]:
    return blocks(page.read_text())


def follow(page: Path, folder: Path) -> None:
    """Run ``page``'s blocks in order in ``folder``/work; raise at the first that fails."""
    work = folder / "work"
    work.mkdir()
    with ExitStack() as stack:
        run = PageRun(page, work, stack)
        for block in page_blocks(page):
            if block.not_run is None:
                run.run(block)


@pytest.fixture(scope="module")
def followed(request, tmp_path_factory) -> Iterator[dict[Path, Future]]:
    """The selected pages, followed :data:`AT_ONCE` at a time (each is a reader in a
    folder and on ports of its own); a test waits for its page's outcome."""
    pages = [item.callspec.params["page"] for item in request.session.items
             if getattr(item, "originalname", "") == "test_page_runs_as_written"]
    with ThreadPoolExecutor(AT_ONCE, thread_name_prefix="docs-page") as pool:
        futures = {page: pool.submit(follow, page, tmp_path_factory.mktemp(page.stem))
                   for page in pages}
        yield futures
        for future in futures.values():
            future.cancel()  # a test run stopped early: the pages not started yet


@pytest.mark.parametrize("page", PAGES, ids=lambda page: f"{page.parent.name}/{page.stem}")
def test_page_runs_as_written(page, followed):
    followed[page].result()


def test_every_page_runs_code_and_few_blocks_are_left_out():
    assert len(PAGES) >= 16
    code = {page: [b for b in page_blocks(page) if b.lang in RUN or "caption" in b.options]
            for page in PAGES}
    assert not [p.name for p, found in code.items() if not found], "pages without code"
    left_out = [f"{p.relative_to(DOCS)} line {b.line}" for p, found in code.items()
                for b in found if b.not_run]
    total = sum(map(len, code.values()))
    assert len(left_out) <= total // 5, f"blocks not run: {left_out}"


def test_shell_blocks_are_console_blocks_with_prompts():
    """``sh`` blocks would be shown but never run: the pages write commands as
    ``console`` blocks, ``$ `` before each."""
    wrong = [f"{p.relative_to(DOCS)} line {b.line}" for p in PAGES for b in page_blocks(p)
             if b.lang in ("sh", "bash", "shell", "shell-session")
             or (b.lang == "console" and not commands(b.code))]
    assert not wrong, f"write these as console blocks with $ prompts: {wrong}"


def test_each_background_port_is_one_pages():
    users: dict[str, set[str]] = {}
    for page in PAGES:
        for block in page_blocks(page):
            if "background" in block.notes:
                users.setdefault(block.notes["background"], set()).add(page.name)
    assert not {port: pages for port, pages in users.items() if len(pages) > 1}


def test_commands_follow_continuations_and_skip_output():
    code = "$ moalab lab init lab \\\n    --database x\nmade lab\n$ ls\n"
    assert commands(code) == ["moalab lab init lab \\\n    --database x", "ls"]
