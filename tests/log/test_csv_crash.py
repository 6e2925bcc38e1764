"""kill -9 during a real-time run leaves a CSV with every row logged before the kill."""

import csv
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import moalab

ROWS_BEFORE_MARKER = 300

SCRIPT = textwrap.dedent("""
    import sys
    import trio
    from moalab import Delay, MoaStage, SimpleCSVLogger

    path, rows = sys.argv[1], int(sys.argv[2])
    logger = SimpleCSVLogger(path)

    class Work(MoaStage):
        async def do_trial(self):
            await trio.sleep(0.001)
            # every trigger before logger.count has been written (write_rows is synchronous)
            if logger.count >= rows and not self.marked:
                self.marked = True
                print(f"MARKER {logger.count}", flush=True)

    root = MoaStage(name="root", repeat=-1)
    root.add_stage(Work(name="work", marked=False))
    root.add_stage(Delay(name="wait", delay=0.001))
    for stage in root.iterate_stages():
        logger.add_logged_instance(stage)
    trio.run(root.run_stage)  # runs until killed
""")


def test_kill_9_loses_no_logged_row(tmp_path):
    script = tmp_path / "experiment.py"
    script.write_text(SCRIPT)
    log = tmp_path / "log.csv"
    env = dict(os.environ, HOME=str(tmp_path),
               PYTHONPATH=str(Path(moalab.__file__).parents[1]))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(log), str(ROWS_BEFORE_MARKER)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("MARKER "), (line, proc.stderr.read() if not line else "")
        logged = int(line.split()[1])
        # kill at once: rows still in a buffer (not flushed) would be lost
        assert proc.poll() is None, "the experiment ended before it was killed"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    with open(log, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(line for line in f if not line.startswith("#")))
    assert rows[0] == ["index", "timestamp", "name", "trigger", "item", "value"]
    complete = [row for row in rows[1:] if len(row) == 6]
    assert len(complete) >= len(rows) - 2  # at most a torn last line
    indices = [int(row[0]) for row in complete]
    # every row dispatched before the marker is there, in order, once
    assert indices[:logged] == list(range(logged))
    names = {row[2] for row in complete[:logged]}
    assert names == {"root", "work", "wait"}
