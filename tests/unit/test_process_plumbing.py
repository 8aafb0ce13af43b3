"""Pieces of the run's process plumbing exercised in this process: a report pipe cut mid-message
is dropped and blocks nobody; memory is reported as PSS; each engine's fork server preloads what
its children import."""

from a3c.engines.processes import child_preload, run_pss_mb


def test_a_report_pipe_cut_mid_message_is_dropped_and_blocks_nobody():
    import multiprocessing
    import os
    import pickle as pk

    from a3c.engines.messages import ReportPipes

    pipes = ReportPipes(multiprocessing.get_context("spawn"))
    dying, living = pipes.sender(), pipes.sender()
    frame = pk.dumps(dict(kind="report", rank=0, returns=[1.0] * 100))
    os.write(dying.conn.fileno(), len(frame).to_bytes(4, "big") + frame[: len(frame) // 2])
    dying.conn.close()  # the child died mid-write: its end of the pipe is closed
    living.put(dict(kind="report", rank=1))
    got = pipes.drain(1.0) + pipes.drain(0.0)
    assert got == [dict(kind="report", rank=1)]
    assert len(pipes._readers) == 1  # the dead child's pipe is forgotten


def test_pss_of_the_run_is_measured():
    pss = run_pss_mb()
    assert pss is not None and pss > 10  # this process alone holds torch


def test_only_a3c_runs_preload_what_an_optimizer_imports():
    # A3C's workers each build an optimizer, whose first use imports torch._dynamo: the fork server
    # imports it once for all of them. GA3C's agents build none, and importing it held back their start.
    a3c_preload, ga3c_preload = child_preload("a3c"), child_preload("ga3c")
    assert "torch._dynamo" in a3c_preload and "torch._dynamo" not in ga3c_preload
    for preload in (a3c_preload, ga3c_preload):
        assert {"a3c.engines.hogwild", "a3c.engines.ga3c.agent"} <= set(preload)
        assert preload[-1] == "a3c.engines.fork_server_exit"  # it must come last (see there)
