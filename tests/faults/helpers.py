"""Helpers of the fault-injection tests, which kill processes of real runs, inject exceptions and
NaNs, and fill the disk, and check that nothing is lost or left behind (the figures each test
reaches, kills survived, orphans found, checkpoints lost..., are printed: run with -s to see them).

These find the processes of a run through psutil. Starting a run, waiting on it and reading its
run directory are in tests/fakes.py (start_train, wait_for, read_metrics, summary, output)."""

from __future__ import annotations

import time

import psutil


def run_tree(pid: int) -> list[psutil.Process]:
    """The main process of a run and every process under it: fork server, resource tracker,
    workers or agents."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def children_of_fork_server(pid: int) -> list[psutil.Process]:
    """A run's workers (A3C) or agents (GA3C): the children of its fork server."""
    found = []
    try:
        for child in psutil.Process(pid).children():
            if "forkserver" in " ".join(child.cmdline()):
                found += child.children()
    except psutil.Error:
        pass
    return found


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (is_running also checks the start time, so a reused pid is not them)."""
    survivors = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                survivors.append(proc)
        except psutil.NoSuchProcess:
            pass
    return survivors


def age_s(proc: psutil.Process) -> float:
    try:
        return time.time() - proc.create_time()
    except psutil.Error:
        return 0.0


def prepared_child_that_blocks_forever(ready) -> None:
    """A run's child (prepare_child) stuck where no loop checks for a dead parent: a lock never released."""
    import threading

    from a3c.engines.processes import prepare_child

    prepare_child(0)
    ready.set()
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()
