"""The record stream: every sink gets every record in order, off the stage's path;
a sink that raises is detached; a sink that may drop counts its drops."""

import threading
import time

import pytest
import trio
import trio.testing

import moalab
from moalab import Delay, MoaStage
from moalab.core.errors import InvalidArgument
from moalab.core.records import RunEnd, RunStart, TrialEnd, TrialStart
from moalab.log import MemorySink, RecordSink
from moalab.runner import RecordStream, Run, SinkDetached


def trials_tree(n=10, delay=0.01):
    root = MoaStage(name="root", repeat=n)
    root.add_stage(Delay(name="wait", delay=delay))
    return root


class Sleepy(RecordSink):
    """Sleeps ``seconds`` on every record (blocking: it runs in its own thread)."""

    def __init__(self, seconds=0.05):
        self.seconds = seconds
        self.records = []
        self.threads = set()

    def consume(self, record):
        self.threads.add(threading.get_ident())
        time.sleep(self.seconds)
        self.records.append(record)


class Raising(RecordSink):
    def __init__(self, after=3):
        self.after = after
        self.seen = 0

    def consume(self, record):
        self.seen += 1
        if self.seen > self.after:
            raise OSError("disk full")


def wait_spans(records):
    starts = [r.time for r in records if isinstance(r, TrialStart) and r.path == "root/wait"]
    ends = [r.time for r in records if isinstance(r, TrialEnd) and r.path == "root/wait"]
    return [end - start for start, end in zip(starts, ends)]


def test_a_sink_that_sleeps_on_every_record_does_not_slow_the_stages():
    slow, memory = Sleepy(0.05), MemorySink()
    handle = moalab.run(trials_tree(10, 0.01), loggers=[slow, memory], log=False)
    assert handle.status == "done"
    # the tree ran at its own pace: ten 10 ms trials, though the slow sink needed
    # 50 ms for each of its records (more than 40 of them: over 2 s)
    spans = wait_spans(memory.records)
    assert len(spans) == 10 and max(spans) < 0.1, spans
    tree_time = memory.records[-1].time - memory.records[0].time
    assert tree_time < 1.0, tree_time
    # and the slow sink still got every record, in order, in a thread not the run's
    assert slow.records == memory.records
    assert threading.get_ident() not in slow.threads and len(slow.threads) >= 1


def test_a_sink_that_raises_is_detached_with_a_warning_and_the_run_completes(tmp_path):
    raising, log = Raising(after=3), moalab.SimpleCSVLogger(tmp_path / "run.csv")
    with pytest.warns(SinkDetached, match=r"record sink Raising raised OSError: disk full"):
        handle = moalab.run(trials_tree(5), loggers=[raising, log],
                            clock=trio.testing.MockClock(autojump_threshold=0))
    log.close()
    assert handle.status == "done"
    assert raising.seen == 4  # the record it failed on was its last
    # the others got everything
    assert isinstance(handle.records[-1], RunEnd)
    assert (tmp_path / "run.csv").read_text().strip().splitlines()[-1].endswith(
        "root,on_stage_end,count,4")


async def test_an_async_sink_is_awaited_in_order():
    got = []

    class Async(RecordSink):
        async def consume(self, record):
            await trio.sleep(0.01)
            got.append(record.seq)

    run = Run(trials_tree(3), sinks=[Async()])
    await run.execute()
    assert run.status == "done" and got == sorted(got) and got[0] == 0
    assert got[-1] == len(got) - 1


async def test_a_sink_that_may_drop_counts_what_it_dropped():
    class Lossy(Sleepy):
        may_drop = True
        buffer_size = 2

    lossy, memory = Lossy(0.02), MemorySink()
    run = Run(trials_tree(20, 0.001), sinks=[lossy, memory])
    with pytest.warns(RuntimeWarning, match=r"record sink Lossy dropped \d+ records"):
        await run.execute()
    dropped = run.stream.drops["Lossy"]
    assert dropped > 0 and len(lossy.records) + dropped == len(memory.records)
    # the run's start and end are never dropped
    assert isinstance(lossy.records[0], RunStart) and isinstance(lossy.records[-1], RunEnd)


def test_a_plain_function_is_a_sink_and_other_things_are_refused():
    seqs = []
    moalab.run(trials_tree(2), loggers=[lambda record: seqs.append(record.seq)], log=False,
               clock=trio.testing.MockClock(autojump_threshold=0))
    assert seqs == list(range(len(seqs))) and len(seqs) > 5
    with pytest.raises(InvalidArgument, match="not a record sink"):
        RecordStream([42])

    class Zero(RecordSink):
        buffer_size = 0

    with pytest.raises(InvalidArgument, match="buffer_size=0"):
        RecordStream([Zero()])


async def test_records_emitted_before_the_stream_serves_wait_for_it():
    memory = MemorySink()
    stream = RecordStream([memory])
    record = RunEnd(run_id="r", seq=0, time=0.0, status="done")
    stream.emit(record)
    stream.close()
    await stream.serve()
    assert memory.records == [record]
