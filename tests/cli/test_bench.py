"""`moalab bench --quick` runs end to end, prints a short table with a legend and
writes the promised JSON; the full table's marks on a kept full comparison.

The one place the test suite runs the benchmarks; nothing here depends on a
timing. PyMoa is not compared (no --compare), so no virtual environment is made.
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.common import (  # noqa: E402
    EXECUTORS,
    EXTRA_SUBJECTS,
    LAB_ROWS,
    LOOP_ROWS,
    METRICS,
    QUICK,
    STAGE_ENGINE_ROWS,
)
from benchmarks.lab import postgres_unavailable  # noqa: E402
from benchmarks.report import GOALS, SEQUENTIAL_FLOORS, goals_of, summarize  # noqa: E402
from benchmarks.table import NAMES, format_table  # noqa: E402
from tests.conftest import require  # noqa: E402

EXECUTOR_METRICS = {"exec_rate_hz", "concurrent_rate_hz", "stream_rate_hz", "array_stream_mb_s"}


KEPT = REPO / "benchmarks" / "results" / "2026-11-22-session2.json"
"""A full comparison kept in the repository: 3 runs, moalab and PyMoa."""


def bench(*args: str, python_path: tuple[str, ...] = (), timeout: float = 400
          ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [*python_path, str(REPO), os.environ.get("PYTHONPATH", "")]))}
    return subprocess.run([sys.executable, "-m", "moalab.cli.main", "bench", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def legend(table: str) -> dict[str, str]:
    """The legend's entries by name (its first column, 21 characters wide)."""
    entries = table.split("\nLegend:\n")[1].split("\n\n")[0].splitlines()
    return {line[2:23].rstrip(): line[24:] for line in entries if line[2:23].strip()}


def assert_every_name_is_explained(table: str) -> None:
    explained = legend(table)
    words = set(table.split("\nLegend:\n")[0].replace(",", " ").replace(":", " ").split())
    unexplained = (words & set(NAMES)) - set(explained)
    assert not unexplained, f"names without a legend entry: {unexplained}"


def assert_quick_table_is_readable(table: str) -> None:
    assert table.startswith("moalab bench --quick: medians over 1 run(s)")
    # short and readable: a row per executor, the stage engine, goals without the
    # ones that need --compare (one line says what it adds), every name explained
    # 13 of them: the stage engine's five rows; 13 more: the lab's three; 7 more: the
    # deposits' row; 14 more: the closed loop's (a row, one per cycle, and its goal); 3
    # more: the HDF5 log's (its write goal, its two rows' legend); 5 more: the NWB
    # export's block (its title, columns, row, its row's and its column's legend); 9
    # more: issue 19's floor goals (3 lines), the floors they name and "its floor" (6)
    assert len(table.splitlines()) <= 120, table
    rows = [line.split()[0] for line in table.split("\n\n")[1].splitlines()[2:]]
    assert rows == [e for e in EXECUTORS if e in rows] and len(rows) >= 4, table
    assert "floor_" not in table.split("\nGoals")[0]
    assert "issue" not in table and "needs --compare" not in table
    ratio_goals = sum(goal.kind == "ratio" for goal in GOALS)
    assert ratio_goals >= 17  # issue 19's blocking=False rows among them
    assert f"--compare pymoa adds {ratio_goals} goals" in table
    assert "[" not in table.split("\nGoals")[0], "[min-max] shown with one run"
    assert_every_name_is_explained(table)
    for heading in ("calls/s", "8 callers/s", "stream items/s", "arrays MB/s", "gate p99 us",
                    "records/s"):
        assert heading in legend(table), heading
    # the stage engine: a row per way its gate ran, and the record rate
    stage_rows = [line.split()[0] for line in
                  table.split("\n\nstage engine")[1].split("\n\n")[0].splitlines()[2:]]
    assert stage_rows == list(STAGE_ENGINE_ROWS), table
    # the lab: a row per lab measured (PostgreSQL where it answers)
    lab_rows = [line.split()[0] for line in
                table.split("\n\nlab ")[1].split("\n\n")[0].splitlines()[2:]]
    assert lab_rows == [r for r in LAB_ROWS if r != "lab_postgres" or not postgres_unavailable()]
    for heading in ("session s", "sessions/s"):
        assert heading in legend(table), heading
    # the closed loop: its wall time, then a row per cycle with the parameters fitted
    loop_rows = [line.split()[0] for line in
                 table.split("\n\nclosed loop")[1].split("\n\n")[0].splitlines()[2:]]
    assert loop_rows == list(LOOP_ROWS[:QUICK.loop_cycles + 1]), table
    for heading in ("loop s", "lr fitted", "noise fitted"):
        assert heading in legend(table), heading


@pytest.mark.timeout(420)
def test_bench_quick_writes_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    completed = bench("--quick", "--json", str(out))
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert_quick_table_is_readable(completed.stdout.split("\n\nJSON written to")[0])

    summary = json.loads(out.read_text())
    assert set(summary) >= {"meta", "results", "skipped", "errors", "comparison", "goals"}
    assert summary["meta"]["mode"] == "quick"
    assert summary["meta"]["runs"] == 1
    assert summary["errors"] == []
    for row in summary["results"]:
        assert set(row) >= {"library", "executor", "metric", "unit", "median", "min", "max", "n"}
        assert row["library"] == "moalab"
        assert row["metric"] in METRICS
        assert row["min"] <= row["median"] <= row["max"]

    measured = {(r["executor"], r["metric"]) for r in summary["results"]}
    skipped = {r["executor"] for r in summary["skipped"] if r["metric"] == "*"}
    for executor in EXECUTORS:
        if executor in skipped:  # e.g. no moalab-server installed
            continue
        assert {(executor, m) for m in EXECUTOR_METRICS} <= measured, executor
    postgres_reason = postgres_unavailable()
    for subject in EXTRA_SUBJECTS:
        if subject == "clock":  # its rows are the executors it aligns through
            assert ("websocket_proxy", "clock_error_max_us") in measured
        elif subject == "lab_postgres" and postgres_reason:
            assert {"executor": "lab_postgres", "metric": "*", "reason": postgres_reason,
                    "library": "moalab"} in summary["skipped"]
        else:
            assert any(e == subject for e, _ in measured), subject
    for row in LAB_ROWS:
        if row != "lab_postgres" or not postgres_reason:
            assert {(row, "session_wall_s"), (row, "sessions_hz")} <= measured, row
    assert {g["metric"] for g in summary["goals"]} >= {"exec_rate_hz", "gate_latency_p99_us"}
    for goal in summary["goals"]:
        assert set(goal) >= {"goal", "value", "met"}
    # the record stream's goals are measured against the other rows of this run
    by_goal = {g["goal"]: g for g in summary["goals"]}
    medians = {(r["executor"], r["metric"]): r["median"] for r in summary["results"]}
    for base in ("stage_engine", "stage_engine_records"):
        slow = by_goal[f"gate reaction latency p99, stage_engine_slow: <= 1.2x {base}"]
        assert slow["threshold"] == pytest.approx(1.2 * medians[(base, "gate_latency_p99_us")])
        assert slow["met"] in (True, False)
    records = by_goal["gate reaction latency p50, stage_engine_records: <= stage_engine + 10 us"]
    assert records["threshold"] == pytest.approx(medians[("stage_engine", "gate_latency_p50_us")]
                                                 + 10)
    rate = [r["median"] for r in summary["results"] if r["metric"] == "record_rate_hz"]
    assert len(rate) == 1 and rate[0] > 100, rate
    # the lab's gate sessions against the same tree with moalab run's sinks
    for row in ("lab_sqlite", "lab_postgres"):
        lab = by_goal[f"gate reaction latency p99, {row}: <= 1.2x stage_engine_csv"]
        assert lab["threshold"] == pytest.approx(1.2 * medians[("stage_engine_csv",
                                                                "gate_latency_p99_us")])
        assert lab["met"] in ((True, False) if (row, "gate_latency_p99_us") in medians
                              else (None,))
    # a 100-trial --dry-run session: in process well under its 100 s of virtual time;
    # a process of the command line starts and imports moalab too
    assert 0 < medians[("lab_sqlite", "session_wall_s")] < medians[("lab_cli", "session_wall_s")]
    assert medians[("lab_sqlite", "sessions_hz")] > medians[("lab_cli", "sessions_hz")] > 0


def test_full_table_marks_spread_and_explains_names():
    summary = json.loads(KEPT.read_text())
    table = format_table(summary)
    assert table.startswith("moalab bench: medians over 3 run(s) (moalab and PyMoa alternating)")
    assert_every_name_is_explained(table)
    assert {"[min-max]", "!", "moalab/PyMoa"} <= set(legend(table))
    # every result has a row; "!" exactly on those whose runs spread over 20% of the median
    by_row = {}
    current = None
    for line in table.split("\n\n")[1].splitlines()[2:]:
        if not line.startswith(" "):
            current = line.split()[0]
        label, cells = line[22:60].strip(), line[61:]
        by_row[(current, label)] = re.split(r"\s{2,}", cells.strip())[0]
    for result in summary["results"]:
        if result["library"] != "moalab":
            continue
        m = METRICS[result["metric"]]
        cell = by_row[(result["executor"], f"{m.label} ({m.unit})")]
        spread = (result["max"] - result["min"]) / result["median"]
        assert cell.endswith(" !") == (spread > 0.2), (result, cell)
        assert "[" in cell
    assert "Goals (met, MISSED" in table and "needs --compare" not in table
    # one run: no [min-max] (one value is its own min and max), nothing flagged
    one_run = {**summary, "meta": {**summary["meta"], "runs": 1}, "results": [
        {**r, "min": r["median"], "max": r["median"], "n": 1, "values": [r["median"]]}
        for r in summary["results"]]}
    single = format_table(one_run)
    assert "[" not in single.split("\nGoals")[0] and " !" not in single
    assert "[min-max]" not in legend(single) and "!" not in legend(single)


def test_plot_without_matplotlib_fails_before_running(tmp_path):
    # matplotlib made unimportable, as on a machine without the bench extra
    hidden = tmp_path / "hidden"
    (hidden / "matplotlib").mkdir(parents=True)
    (hidden / "matplotlib" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'matplotlib'\")\n")
    started = time.monotonic()
    completed = bench("--quick", "--plot", str(tmp_path / "bench.png"),
                      python_path=(str(hidden),), timeout=60)
    elapsed = time.monotonic() - started
    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert completed.stderr.strip() == (
        "moalab bench: --plot needs matplotlib, which does not import here (No module named "
        "'matplotlib'): pip install \"moalab[bench]\", or run without --plot")
    assert completed.stdout == "" and "run 1/1" not in completed.stderr
    assert elapsed < 20, f"it took {elapsed:.1f} s: the suite ran before the check"


def _stage_engine_summary(plain_p99: float, slow_p99: float) -> dict:
    run = {"values": [
        {"executor": "stage_engine", "metric": "gate_latency_p50_us", "value": 100.0},
        {"executor": "stage_engine", "metric": "gate_latency_p99_us", "value": plain_p99},
        {"executor": "stage_engine_records", "metric": "gate_latency_p50_us", "value": 109.0},
        {"executor": "stage_engine_records", "metric": "gate_latency_p99_us", "value": 250.0},
        {"executor": "stage_engine_csv", "metric": "gate_latency_p50_us", "value": 111.0},
        {"executor": "stage_engine_slow", "metric": "gate_latency_p99_us", "value": slow_p99},
        {"executor": "records", "metric": "record_rate_hz", "value": 20000.0},
    ], "skipped": [], "errors": []}
    return summarize({"moalab": [run]}, {"mode": "quick", "runs": 1})


SLOW_GOAL = "gate reaction latency p99, stage_engine_slow: <= 1.2x "


def test_record_stream_goals_are_against_other_rows():
    goals = {g["goal"]: g for g in _stage_engine_summary(200, 239)["goals"]}
    slow = goals[SLOW_GOAL + "stage_engine"]
    assert (slow["threshold"], slow["met"]) == (pytest.approx(240), True)
    slow = goals[SLOW_GOAL + "stage_engine_records"]
    assert (slow["threshold"], slow["met"]) == (pytest.approx(300), True)
    p50 = "gate reaction latency p50, {}: <= stage_engine + 10 us"
    assert goals[p50.format("stage_engine_records")]["met"] is True
    assert goals[p50.format("stage_engine_csv")]["met"] is False
    missed = {g["goal"]: g for g in _stage_engine_summary(200, 241)["goals"]}
    assert missed[SLOW_GOAL + "stage_engine"]["met"] is False
    assert missed[SLOW_GOAL + "stage_engine_records"]["met"] is True
    # without the row to compare with there is no threshold: not measured
    alone = summarize({"moalab": [{"values": [
        {"executor": "stage_engine_slow", "metric": "gate_latency_p99_us", "value": 1.0}],
        "skipped": [], "errors": []}]}, {"mode": "quick", "runs": 1})
    slow_alone = {g["goal"]: g for g in alone["goals"]}[SLOW_GOAL + "stage_engine"]
    assert (slow_alone["threshold"], slow_alone["met"]) == (None, None)


def test_quick_table_shows_each_stage_engine_row():
    table = format_table(_stage_engine_summary(200, 239))
    block = table.split("\n\nstage engine")[1].split("\n\n")[0].splitlines()
    assert block[0].split() == ["gate", "p50", "us", "gate", "p99", "us", "records/s"]
    cells = {line.split()[0]: line.split()[1:] for line in block[2:]}
    assert cells == {"stage_engine": ["100", "200", "-"],
                     "stage_engine_records": ["109", "250", "-"],
                     "stage_engine_csv": ["111", "-", "-"],
                     "stage_engine_slow": ["-", "239", "-"],
                     "records": ["-", "-", "20,000"]}
    assert "[MISSED] gate reaction latency p50: <= stage_engine + 10 us: " \
           "stage_engine_records 109, stage_engine_csv 111 MISSED" in table
    assert "[met   ] " + SLOW_GOAL.replace(", stage_engine_slow", "") + "stage_engine: " \
           "stage_engine_slow 239" in table
    assert_every_name_is_explained(table)
    assert {"stage_engine_slow", "records", "gate p50 us", "records/s"} <= set(legend(table))


def test_quick_table_without_executors_has_no_executor_table():
    # as --quick --only stage_engine,floor_timer: no executor measured, so no header
    # of an empty table, and no legend for its columns
    summary = _stage_engine_summary(200, 239)
    summary["results"].append({**summary["results"][0], "executor": "floor_timer",
                               "metric": "delay_error_p50_us"})
    table = format_table(summary)
    assert not any(line.startswith("executor") for line in table.splitlines()), table
    assert table.split("\n\n")[1].startswith("stage engine"), table
    assert not {"calls/s", "8 callers/s", "lag ms"} & set(legend(table)), table


async def test_the_slow_sink_sleeps_while_the_tree_runs_and_the_run_waits_for_it(tmp_path):
    from benchmarks.timing import GATE_VARIANTS, GateTree, run_gate_tree
    from moalab.log.sink import MemorySink

    tree = GateTree(20, random.Random(3))
    slow, = GATE_VARIANTS["stage_engine_slow"](tree, tmp_path)
    memory = MemorySink()
    taken_by_then = []
    tree.root.fbind("on_stage_end", lambda *_: taken_by_then.append(slow.consumed))
    started = time.monotonic()
    await run_gate_tree(tree, [slow, memory])
    # 50 ms a record: when the tree ended the sink had taken a few of its ~250 records
    # at most; the run waited until it had every one
    assert taken_by_then[0] <= 1 + (time.monotonic() - started) / 0.05 < len(memory.records)
    assert slow.consumed == len(memory.records) > 200
    assert len(tree.latencies) == 20


async def test_the_floors_wakeups_take_turns_with_the_gate_rows(autojump_clock):
    import trio

    from benchmarks.timing import measure_gate_latencies

    started = trio.current_time()
    calls = []

    async def probe(tree, folder):  # a gate row that runs nothing: when was its turn
        calls.append(trio.current_time())

    by_row = await measure_gate_latencies(QUICK, {"probe": probe}, floor=True)
    # before each of the row's trees, a batch of the floor's wake-ups: each one sleeps
    # 0.5-2 ms (virtual time here) before its event is set
    per_tree = QUICK.gate_trials // QUICK.gate_rounds
    assert len(calls) == QUICK.gate_rounds
    assert all(b - a >= per_tree * 0.0005 for a, b in zip([started, *calls], calls)), calls
    assert set(by_row) == {"floor_timer", "probe"}
    assert 0 < by_row["floor_timer"]["gate_latency_p50_us"] <= by_row["floor_timer"][
        "gate_latency_p99_us"]


@pytest.fixture(params=["sqlite", "postgres"])
def lab_database(request) -> str:
    """Each database a bench lab keeps (PostgreSQL where one answers)."""
    if request.param == "postgres":
        reason = postgres_unavailable()
        require(reason is None, reason or "")
    return request.param


async def test_the_lab_gate_rows_run_each_tree_as_a_session_recording_its_trials(lab_database):
    from benchmarks.lab import GateSessions, temporary_lab
    from benchmarks.timing import GateTree

    with temporary_lab(lab_database) as lab:
        sessions = GateSessions(lab)
        trees = [GateTree(15, random.Random(4)) for _ in range(2)]
        for tree in trees:
            await sessions(tree, lab.folder)
        ran = lab.database.list_sessions()
        assert [(s.protocol, s.status, s.n_trials) for s in ran] == [("bench-gate", "submitted",
                                                                      15)] * 2
        for info in ran:  # the action's record_trial reached the database, in order
            assert [t.values for t in lab.database.list_trials(info.id)] == [
                {"trial": i, "correct": True} for i in range(15)]
            assert (lab.session_folder(info.id) / "log.csv").stat().st_size > 0
        assert all(len(tree.latencies) == 15 for tree in trees)


def test_lab_goals_are_against_moalab_runs_sinks():
    run = {"values": [
        {"executor": "stage_engine_csv", "metric": "gate_latency_p99_us", "value": 500.0},
        {"executor": "lab_sqlite", "metric": "gate_latency_p99_us", "value": 599.0},
        {"executor": "lab_sqlite", "metric": "session_wall_s", "value": 0.3},
        {"executor": "lab_cli", "metric": "sessions_hz", "value": 0.5},
    ], "skipped": [{"executor": "lab_postgres", "metric": "*", "reason": "no PostgreSQL"}],
        "errors": []}
    summary = summarize({"moalab": [run]}, {"mode": "quick", "runs": 1})
    goals = {g["executor"]: g for g in summary["goals"]
             if g["goal"].endswith("<= 1.2x stage_engine_csv")}
    assert (goals["lab_sqlite"]["threshold"], goals["lab_sqlite"]["met"]) == (
        pytest.approx(600), True)
    assert goals["lab_postgres"]["met"] is None
    table = format_table(summary)
    block = table.split("\n\nlab ")[1].split("\n\n")[0].splitlines()
    assert block[0].split() == ["gate", "p99", "us", "session", "s", "sessions/s"]
    assert {line.split()[0]: line.split()[1:] for line in block[2:]} == {
        "lab_sqlite": ["599", "0.300", "-"], "lab_cli": ["-", "-", "0.500"]}
    assert "moalab lab_postgres: no PostgreSQL" in table
    assert_every_name_is_explained(table)
    assert {"lab_sqlite", "lab_cli", "session s", "sessions/s"} <= set(legend(table))


def test_load_runs_beside_the_bench_and_is_gone_after(tmp_path):
    out = tmp_path / "bench.json"
    completed = bench("--quick", "--only", "none", "--load", "1", "--json", str(out),
                      timeout=120)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert completed.stdout.startswith("moalab bench --quick: medians over 1 run(s), with 1 "
                                       "CPU-bound process(es) beside it (--load 1)\n")
    load = json.loads(out.read_text())["meta"]["load"]
    assert load["processes"] == 1 and len(load["pids"]) == 1
    # it spun while the side ran (about a second here), and was joined: its pid is gone
    cpu_s, = load["cpu_s"]
    assert cpu_s is not None and cpu_s > 0.05, load
    with pytest.raises(ProcessLookupError):
        os.kill(load["pids"][0], 0)


def test_load_is_stopped_when_the_bench_is_interrupted():
    # Ctrl-C: the terminal sends SIGINT to the bench's whole process group
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))}
    bench_process = subprocess.Popen(
        [sys.executable, "-m", "moalab.cli.main", "bench", "--only", "thread", "--load", "2"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        line = bench_process.stderr.readline()
        assert line.startswith("load: 2 CPU-bound process(es)"), line
        pids = [int(pid) for pid in re.findall(r"\d+", line.split("pids")[1])]
        assert len(pids) == 2
        bench_process.stderr.readline()  # "run 1/3: moalab": the side has started
        os.killpg(bench_process.pid, signal.SIGINT)
        _, stderr = bench_process.communicate(timeout=60)
    finally:
        if bench_process.poll() is None:
            os.killpg(bench_process.pid, signal.SIGKILL)
            bench_process.wait()
    assert bench_process.returncode != 0
    assert "load: stopped and joined (CPU s each: " in stderr, stderr[-3000:]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_negative_load_is_refused_before_running():
    completed = bench("--only", "none", "--load", "-1", timeout=60)
    assert completed.returncode == 2
    assert completed.stderr.strip() == "moalab bench: --load -1: give 0 or more CPU-bound processes"
    assert "run 1/" not in completed.stderr


def test_floor_goals_from_a_kept_json():
    # issue 19's goals against a kept comparison, computed without running anything
    summary = json.loads(KEPT.read_text())
    medians = {(r["library"], r["executor"], r["metric"]): r["median"]
               for r in summary["results"]}
    goals = {(g["executor"], g["metric"], g["kind"]): g for g in goals_of(summary)}
    for executor, floor in SEQUENTIAL_FLOORS.items():
        goal = goals[(executor, "exec_rate_hz", "floor")]
        share = medians[("moalab", executor, "exec_rate_hz")] / medians[("moalab", floor,
                                                                        "exec_rate_hz")]
        assert goal["value"] == pytest.approx(share) and goal["threshold"] == 0.85
        assert goal["met"] is (share >= 0.85) and goal["note"] == floor
    # that run: ThreadExecutor at 72% of the bare hand-off, WebSocket at 40% of the echo
    assert goals[("thread", "exec_rate_hz", "floor")]["value"] == pytest.approx(0.72, abs=0.01)
    assert goals[("websocket", "exec_rate_hz", "floor")]["value"] == pytest.approx(0.40, abs=0.01)
    for metric, ratio in (("gate_latency_p50_us", 6.30), ("gate_latency_p99_us", 4.89)):
        gate = goals[("stage_engine", metric, "floor")]
        assert (gate["value"], gate["threshold"], gate["met"]) == (
            pytest.approx(ratio, abs=0.01), 3, False)
    sequential = goals[("thread", "exec_rate_hz", "ratio")]
    assert (sequential["threshold"], sequential["met"]) == (2, False)
    callers = goals[("websocket", "concurrent_rate_hz", "ratio")]
    assert (callers["threshold"], callers["met"]) == (5, True)

    table = format_table({**summary, "goals": goals_of(summary)})
    assert ("[MISSED] execution rate (sequential calls): >= 85% of its floor: thread 72% "
            "(floor_thread), process 27% (floor_tcp), websocket 40% (floor_websocket), "
            "rest 75% (floor_quart_rest)") in table
    assert "[MISSED] gate reaction latency p50: <= 3x its floor: stage_engine 6.30x " \
           "(floor_timer)" in table
    explained = legend(table)
    assert "thread floor_thread" in explained["its floor"]
    assert {"floor_thread", "floor_tcp", "floor_websocket", "floor_quart_rest",
            "floor_timer"} <= set(explained)
    # a goal whose floor was not measured is not measured either
    without_floor = {**summary, "results": [r for r in summary["results"]
                                            if r["executor"] != "floor_timer"]}
    gate = {(g["executor"], g["metric"], g["kind"]): g for g in goals_of(without_floor)}[
        ("stage_engine", "gate_latency_p50_us", "floor")]
    assert (gate["value"], gate["met"]) == (None, None)


def test_help_lists_every_name_only_accepts():
    # the names the runner accepts, each a whole word of --only's help
    from moalab.cli.main import build_parser

    bench = build_parser()._subparsers._group_actions[0].choices["bench"]
    only = next(a for a in bench._actions if "--only" in a.option_strings)
    listed = set(re.findall(r"\w+", only.help))
    missing = [name for name in (*EXECUTORS, *EXTRA_SUBJECTS) if name not in listed]
    assert missing == [], f"--only's help misses {missing}"
