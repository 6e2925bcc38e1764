"""`moalab demo` as a real subprocess, in a fresh folder as after a fresh clone; its
refusal and `run --help` in process (each process costs 1.5 s of imports)."""

import time

from .helpers import lines, no_traceback, read_rows, run, run_in_process, stage_events


def test_demo_dry_run_prints_where_the_log_went(tmp_path):
    result = run("moalab", "demo", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (log,) = tmp_path.glob("moalab-demo-*.csv")
    summary = lines(result.stdout)[-1]
    assert summary.endswith(f"log events in {log}"), summary
    rows = read_rows(log)
    assert stage_events(rows)[0] == ("Root stage", "on_stage_start")
    assert stage_events(rows)[-1] == ("Root stage", "on_stage_end")
    assert [name for name, event in stage_events(rows) if event == "on_stage_end"].count(
        "sugar pallet stage") == 2


def test_demo_runs_accelerated_in_virtual_time(tmp_path):
    log = tmp_path / "demo.csv"
    started = time.monotonic()
    result = run("moalab", "demo", "--speed", "100", "--log", log, "--no-live", cwd=tmp_path)
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    rows = read_rows(log)
    virtual = float(rows[-1]["timestamp"]) - float(rows[0]["timestamp"])
    assert virtual >= 75  # 20 s + 2 x (gate + 20-40 s) + 15 s
    assert wall < virtual / 4, f"{virtual:.0f} s of experiment took {wall:.1f} s"
    assert stage_events(rows)[-1] == ("Root stage", "on_stage_end")


def test_demo_keeps_an_existing_log(tmp_path):
    (tmp_path / "demo.csv").write_text("keep\n")
    result = run_in_process("moalab", "demo", "--dry-run", "--log", "demo.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert no_traceback(result)
    assert lines(result.stderr)[0].startswith("moalab demo: log file 'demo.csv' already exists")
    assert (tmp_path / "demo.csv").read_text() == "keep\n"


def test_console_script_help(tmp_path):
    result = run("moalab", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("run", "demo", "bench"):
        assert command in result.stdout
    result = run_in_process("moalab", "run", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "root" in result.stdout and "devices" in result.stdout  # the script convention
