"""The lab's rows: the gate tree as a lab session, a ``--dry-run`` session's wall
time, and sessions created per second, each on a lab made in a temporary folder.

- Gate reaction with per-trial recording (``lab_sqlite``, ``lab_postgres``): the
  gate tree of :mod:`benchmarks.timing` is the tree of a small protocol whose action
  calls ``session.record_trial`` (queued; the session's ``TrialWriter`` thread
  commits it within 100 ms), each tree one session run by
  ``ProtocolRunner.run_session`` (its records to the session's CSV log, its trials
  to the database). These rows take turns with the other gate rows, tree by tree;
  their goal is against ``stage_engine_csv``, the same tree through ``Run.execute``
  with ``moalab run``'s sinks.
- Wall time of a ``--dry-run`` session of ``MockProtocol`` (``Sizes.lab_trials``
  trials of 1 s, passed at once by the virtual clock): ``lab_cli`` runs ``moalab
  session run`` as a process (its start and imports included); the lab rows do the
  same in process (``create_session``, ``run_session`` in a trio run of its own on
  the ``--dry-run`` clock, ``cleanup_session``).
- Sessions created per second: ``ProtocolRunner.create_session`` of
  ``MockProtocol`` one after another for ``Sizes.time_cap`` seconds (each left
  'created': a created session does not hold its subject); ``lab_cli``: ``moalab
  session run ... --arg n_trials=1`` processes one after another, which the
  process's start dominates.

PostgreSQL is the server of ``MOALAB_BENCH_POSTGRES_URL``, else of
``MOALAB_TEST_POSTGRES_URL`` (``.ci/run`` sets it), in a schema made for the run and
dropped after; where none answers, ``lab_postgres`` is skipped with the reason.
"""

import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

import trio

from moalab.cli.run import make_clock
from moalab.protocol import MockProtocol, Protocol, ProtocolRunner
from moalab.store import Lab

from .common import SideResults, Sizes
from .timing import GateTree, run_driven

__all__ = ("COMPARED_WITH", "LAB_DATABASES", "POSTGRES_ENVS", "GateSessions", "open_labs",
           "postgres_unavailable", "run_lab", "temporary_lab")

LAB_DATABASES = {"lab_sqlite": "sqlite", "lab_postgres": "postgres"}
"""The rows measured on a lab of their own, and the database each lab keeps."""

COMPARED_WITH = "stage_engine_csv"
"""The gate row the lab's gate rows are compared with (measured with them)."""

POSTGRES_ENVS = ("MOALAB_BENCH_POSTGRES_URL", "MOALAB_TEST_POSTGRES_URL")
"""Where the PostgreSQL rows find their server, the first set first."""

SUBJECT = "bench"
"""The subject every bench lab holds."""


def _postgres_setting() -> tuple[str, str] | None:
    """(variable, URL) of the first of :data:`POSTGRES_ENVS` that is set."""
    return next(((name, os.environ[name]) for name in POSTGRES_ENVS if os.environ.get(name)),
                None)


def _libpq(url: str) -> str:
    """An SQLAlchemy URL as psycopg's own connect string."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def postgres_unavailable() -> str | None:
    """Why the PostgreSQL rows cannot be measured here, or None when its server answers."""
    setting = _postgres_setting()
    if setting is None:
        return (f"no PostgreSQL: {' or '.join(POSTGRES_ENVS)} is not set (a "
                "postgresql+psycopg:// URL; .ci/run sets the second)")
    import psycopg

    name, url = setting
    try:
        psycopg.connect(_libpq(url), connect_timeout=3).close()
    except psycopg.Error as error:
        return f"the PostgreSQL of {name} does not answer: {str(error).strip()}"
    return None


@contextmanager
def _database_url(database: str) -> Iterator[str | None]:
    """A lab's database URL: None for SQLite (the lab's own file); for 'postgres' a
    fresh schema on the server of :data:`POSTGRES_ENVS`, dropped after."""
    if database == "sqlite":
        yield None
        return
    import psycopg
    from sqlalchemy.engine import make_url

    setting = _postgres_setting()
    if setting is None:
        raise RuntimeError(postgres_unavailable())
    url = setting[1]
    schema = f"bench_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq(url), autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}
                                              ).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(url), autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def temporary_lab(database: str) -> Iterator[Lab]:
    """A lab in a temporary folder keeping its database in ``database`` ('sqlite' or
    'postgres'), holding the subject :data:`SUBJECT`; removed after."""
    with tempfile.TemporaryDirectory(prefix=f"moalab-bench-lab-{database}-") as folder, \
            _database_url(database) as url:
        lab = Lab.init(Path(folder) / "lab", database_url=url)
        try:
            lab.database.add_subject(SUBJECT)
            yield lab
        finally:
            lab.close()


class GateSessions:
    """Runs gate trees as sessions of ``lab`` (a :data:`~benchmarks.timing.GateRunner`):
    each tree is the tree of a new session of a protocol whose action records its
    trial. Raises RuntimeError when a session does not end 'submitted' with every
    trial recorded."""

    def __init__(self, lab: Lab) -> None:
        self.tree: GateTree | None = None
        sessions = self

        class GateProtocol(Protocol):
            name = "bench-gate"

            def build_tree(self, session: Any) -> Any:
                return sessions._attach(session)

            def devices(self, session: Any) -> list[Any]:
                return [sessions.tree.device]

        self.runner = ProtocolRunner(lab, GateProtocol)

    def _attach(self, session: Any) -> Any:
        tree = self.tree
        tree.on_action = lambda: session.record_trial(trial=len(session.trials), correct=True)
        return tree.root

    async def __call__(self, tree: GateTree, folder: Path) -> None:
        self.tree = tree
        info = await trio.to_thread.run_sync(self.runner.create_session, SUBJECT)
        ended = []

        async def run() -> None:
            ended.append(await self.runner.run_session(info))

        await run_driven(tree, run)
        if ended[0].status != "submitted" or ended[0].n_trials != len(tree.latencies):
            raise RuntimeError(f"the gate session {info.id} ended {ended[0].status} with "
                               f"{ended[0].n_trials} trials of {len(tree.latencies)} "
                               f"({ended[0].error})")


@asynccontextmanager
async def open_labs(subjects: list[str], results: SideResults) -> AsyncIterator[dict[str, Lab]]:
    """The lab of each :data:`LAB_DATABASES` row among ``subjects``, by row; a
    PostgreSQL row without a server is skipped with the reason, a lab that cannot
    be made is recorded as an error of its row."""
    with ExitStack() as stack:
        labs = {}
        for row, database in LAB_DATABASES.items():
            if row not in subjects:
                continue
            reason = postgres_unavailable() if database == "postgres" else None
            if reason is not None:
                results.skip(row, reason)
                continue
            try:
                labs[row] = stack.enter_context(temporary_lab(database))
            except Exception as exc:
                results.error(row, "*", exc)
        yield labs


def sessions_per_second(lab: Lab, seconds: float) -> float:
    """``create_session`` of ``MockProtocol`` one after another for ``seconds``;
    blocks (call it in a worker thread)."""
    runner = ProtocolRunner(lab, MockProtocol)
    count, start = 0, perf_counter()
    while count == 0 or perf_counter() - start < seconds:
        runner.create_session(SUBJECT)
        count += 1
    return count / (perf_counter() - start)


def dry_run_seconds(lab: Lab, trials: int) -> float:
    """Wall time of a ``--dry-run`` session of ``trials`` trials of ``MockProtocol``
    made, run (a trio run of its own on the ``--dry-run`` clock) and cleaned up in
    this process; blocks (call it in a worker thread)."""
    runner = ProtocolRunner(lab, MockProtocol)
    start = perf_counter()
    info = runner.create_session(SUBJECT, [f"n_trials={trials}", "trial_duration=1"])
    try:
        ended = trio.run(runner.run_session, info, clock=make_clock(True, None))
    finally:
        runner.cleanup_session(info)
    elapsed = perf_counter() - start
    if ended.status != "submitted" or ended.n_trials != trials:
        raise RuntimeError(f"the dry-run session {info.id} ended {ended.status} after "
                           f"{ended.n_trials} of {trials} trials ({ended.error})")
    return elapsed


def _cli_command() -> list[str]:
    local = Path(sys.executable).with_name("moalab")
    return [str(local)] if local.exists() else [sys.executable, "-m", "moalab.cli.main"]


async def cli_session_seconds(lab: Lab, trials: int) -> float:
    """Wall time of ``moalab session run moalab.protocol.mock --dry-run`` with
    ``trials`` trials of 1 s on ``lab``, as a process (its start included)."""
    command = [*_cli_command(), "session", "run", "moalab.protocol.mock", "--subject",
               SUBJECT, "--dry-run", "--arg", f"n_trials={trials}", "--arg", "trial_duration=1"]
    start = perf_counter()
    completed = await trio.run_process(command, env={**os.environ, "MOALAB_LAB": str(lab.folder)},
                                       capture_stdout=True, capture_stderr=True, check=False)
    elapsed = perf_counter() - start
    output = (completed.stdout + completed.stderr).decode(errors="replace")
    if completed.returncode != 0 or f"submitted after {trials} trials" not in output:
        raise RuntimeError(f"{' '.join(command)} exited {completed.returncode}: "
                           f"{output[-500:]}")
    return elapsed


async def run_lab(subjects: list[str], labs: dict[str, Lab], sizes: Sizes,
                  results: SideResults) -> None:
    """Measure sessions/s and the ``--dry-run`` session's wall time on each of ``labs``
    (from :func:`open_labs`) and, when ``lab_cli`` is among ``subjects``, through
    ``moalab session run``; a measure that fails is recorded as an error of its row."""
    for row, lab in labs.items():
        try:
            with trio.fail_after(120):
                rate = await trio.to_thread.run_sync(sessions_per_second, lab, sizes.time_cap)
                wall = await trio.to_thread.run_sync(dry_run_seconds, lab, sizes.lab_trials)
        except Exception as exc:
            results.error(row, "sessions", exc)
            continue
        results.record(row, "sessions_hz", rate)
        results.record(row, "session_wall_s", wall)
    if "lab_cli" not in subjects:
        return
    try:
        with trio.fail_after(300), temporary_lab("sqlite") as lab:
            wall = await cli_session_seconds(lab, sizes.lab_trials)
            times = [await cli_session_seconds(lab, 1) for _ in range(sizes.lab_cli_sessions)]
    except Exception as exc:
        results.error("lab_cli", "sessions", exc)
        return
    results.record("lab_cli", "session_wall_s", wall)
    results.record("lab_cli", "sessions_hz", len(times) / sum(times))
