"""`moalab run SCRIPT` imports as `python SCRIPT` does: the script's folder first on
``sys.path``, for the script, for what it imports later, and for a ProcessExecutor's
child (real subprocesses; run from another folder, so the working directory is no help)."""

import textwrap

from .helpers import read_rows, run


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_a_module_beside_the_script_imports(tmp_path):
    lab = tmp_path / "lab"
    write(lab / "helper.py", "X = 1\n")
    write(lab / "exp.py", """\
        from helper import X
        from moalab import Delay

        root = Delay(name='d', delay=X)
        """)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run("moalab", "run", "--dry-run", "--no-live", "--log", tmp_path / "exp.csv",
                 lab / "exp.py", cwd=elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No module named" not in result.stderr


def test_a_module_imported_while_the_tree_runs(tmp_path):
    # `python exp.py` keeps the folder on sys.path for the whole run, not only its import
    lab = tmp_path / "lab"
    write(lab / "late.py", "VALUE = 7\n")
    write(lab / "exp.py", """\
        from moalab import MoaStage

        class Late(MoaStage):
            async def do_trial(self):
                import late
                self.value = late.VALUE

        root = Late(name='late')
        """)
    result = run("moalab", "run", "--dry-run", "--no-live", "--log", tmp_path / "exp.csv",
                 lab / "exp.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_process_executor_child_imports_the_scripts_modules(tmp_path):
    lab = tmp_path / "lab"
    write(lab / "mydevs.py", """\
        import os

        from moalab import Device, apply_executor
        from moalab.core.events import NumericProperty


        class Where(Device):
            pid = NumericProperty(0)
            _logged_names_ = ("pid",)

            @apply_executor(callback="got")
            def where(self):
                return os.getpid()

            def got(self, pid):
                self.update(timestamp=self.now(), pid=pid)
        """)
    write(lab / "exp.py", """\
        from moalab import MoaStage, ProcessExecutor

        from mydevs import Where

        executor = ProcessExecutor()
        executors = [executor]
        where = Where(name='where', executor=executor)

        class Ask(MoaStage):
            async def do_trial(self):
                await executor.ensure_remote_instance(where)
                await where.where()

        root = Ask(name='ask')
        """)
    log = tmp_path / "exp.csv"
    result = run("moalab", "run", "--dry-run", "--no-live", "--log", log, lab / "exp.py",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    pids = {int(row["value"]) for row in read_rows(log)
            if row["name"] == "where" and row["item"] == "pid"}
    assert len(pids) == 1 and 0 not in pids, result.stderr
