"""The GA3C engine: batched prediction, dynamic adjustment, supervision, shutdown, CLI
mistakes, and (slow) that it learns.

The predictor tests play the agents' side of the protocol with the agents' own code
(`PredictorLink`) in threads, over real pipes and semaphores, against a stand-in network
whose answers can be read off its input: obs[0] is the action to take, obs[1] the value.
"""

import csv
import json
import multiprocessing
import re
import signal
import threading
import time
from multiprocessing import forkserver, resource_tracker

import numpy as np
import psutil
import pytest
import torch
from torch import nn

import a3c
from a3c.distributions import Categorical
from a3c.engines.ga3c.adjust import MARGIN, ROLES, DynamicAdjuster
from a3c.engines.ga3c.agent import PredictorLink
from a3c.engines.ga3c.buffers import Mailboxes
from a3c.engines.ga3c.predictor import AgentLine, Predictor, RequestBoard
from a3c.engines.ga3c.shared_model import SharedModel
from a3c.engines.ga3c.stats import Stats
from a3c.engines.messages import Crash

ENVS = 2  # envs per agent
N_ACTIONS = 3
GA3C_COLUMNS = ("pps", "tps", "predict_batch_mean", "policy_lag", "agents", "predictors", "trainers")


# ----- fake agents around a real RequestBoard and Predictor -----

class ReadableNet(nn.Module):
    """Logits that make action obs[0] all but certain, value obs[1]; records every forward pass's batch size."""

    def __init__(self):
        super().__init__()
        self.batch_sizes: list[int] = []

    def forward(self, obs, state=None):
        self.batch_sizes.append(obs.shape[0])
        logits = 50.0 * nn.functional.one_hot(obs[:, 0].long(), N_ACTIONS).float()
        return logits, obs[:, 1].clone(), None


class FakeAgents:
    """`count` agents' mailboxes and lines on one RequestBoard, the agents' ends PredictorLinks."""

    def __init__(self, count: int):
        ctx = multiprocessing.get_context("spawn")
        self.mail = Mailboxes.allocate(count, ENVS, (2,), torch.float32, Categorical(N_ACTIONS))
        self.board = RequestBoard(self.mail)
        self.net = ReadableNet()
        shared = SharedModel(None, self.net, None, None)
        shared.learner.version = 7
        self.stats = Stats()
        self.stopped = threading.Event()  # the agents' running() turns False: a blocked link gives up
        self.predictor = Predictor(0, self.board, shared, Categorical(N_ACTIONS), self.stats, torch.device("cpu"),
                                   max_rows=64, wait_s=5.0, on_crash=lambda message: pytest.fail(str(message)))
        self.readers, self.semaphores, self.links = [], [], []
        for rank in range(count):
            reader, writer = ctx.Pipe(duplex=False)
            semaphore = ctx.Semaphore(0)
            self.board.connect(AgentLine(rank, 0, reader, semaphore))
            self.readers.append(reader)
            self.semaphores.append(semaphore)
            running = lambda: not self.stopped.is_set()  # noqa: E731
            self.links.append(PredictorLink(self.mail.numpy_row(rank), writer, semaphore, running))

    def post(self, rank: int, final_obs: dict | None = None, until_in_pipe: bool = True) -> dict:
        """Agent `rank` asks for actions for obs_for(rank), in a thread as its process would; by default
        this returns once its note is in the pipe (not when a predictor may already be reading it)."""
        posted: dict = {}
        obs = torch.tensor(obs_for(rank)).numpy()
        finals = {env: torch.tensor(row).numpy() for env, row in (final_obs or {}).items()}

        def ask():
            posted["reply"] = self.links[rank].predict(obs, np.zeros(ENVS, dtype=np.float32), finals)

        posted["thread"] = threading.Thread(target=ask, daemon=True)
        posted["thread"].start()
        if until_in_pipe:
            self.wait_until(lambda: self.readers[rank].poll(), "agent did not post")
        return posted

    def wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + 5.0
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.001)

    def round(self) -> None:
        """Every agent posts and is answered: afterwards all have been heard from."""
        posted = [self.post(rank) for rank in range(len(self.links))]
        self.predictor.predict(self.board.gather(64, 5.0))
        for p in posted:
            reply_of(p)


def obs_for(rank: int) -> list[list[float]]:
    """Agent r's env e wants action (r + e) % 3 and has value 10 r + e: every row of every agent differs."""
    return [[(rank + env) % N_ACTIONS, 10.0 * rank + env] for env in range(ENVS)]


def actions_for(rank: int) -> list[int]:
    return [(rank + env) % N_ACTIONS for env in range(ENVS)]


def reply_of(posted: dict):
    posted["thread"].join(5.0)
    assert not posted["thread"].is_alive(), "the agent was never answered"
    return posted["reply"]


def test_one_forward_pass_answers_every_agent_that_posted():
    agents = FakeAgents(3)
    posted = [agents.post(rank) for rank in range(3)]
    requests = agents.board.gather(max_rows=64, wait_s=5.0)
    assert sorted(r.line.rank for r in requests) == [0, 1, 2]
    agents.predictor.predict(requests)
    assert agents.net.batch_sizes == [3 * ENVS]  # one pass over all three agents' observations
    for rank, p in enumerate(posted):
        reply = reply_of(p)  # its semaphore was released
        assert reply.actions.tolist() == actions_for(rank)
        assert agents.mail.actions[rank].tolist() == actions_for(rank)
        assert reply.log_probs.tolist() == pytest.approx([0.0] * ENVS, abs=1e-6)  # the near-certain action
        assert reply.version == 7 and len(reply.final_values) == 0
        assert not agents.semaphores[rank].acquire(block=False)  # released once, not twice
    assert agents.board.in_service == 0
    assert agents.mail.waiting.tolist() == [0, 0, 0]
    totals = agents.stats.totals()
    assert (totals.predictions, totals.predict_rows, totals.predict_batches) == (6, 6, 1)


def test_final_observations_ride_in_the_same_pass():
    agents = FakeAgents(3)
    agents.mail.final_values[0] = -1.0  # agent 0 truncated nothing: its row must stay as it was
    posted = [
        agents.post(0),
        # posted out of env order: rows go in env order, so the values come back as (110, 111)
        agents.post(1, final_obs={1: [0, 111.0], 0: [2, 110.0]}),
        agents.post(2, final_obs={1: [1, 121.0]}),
    ]
    agents.predictor.predict(agents.board.gather(max_rows=64, wait_s=5.0))
    assert agents.net.batch_sizes == [3 * ENVS + 3]  # 6 observations + 3 final observations, one pass
    replies = [reply_of(p) for p in posted]
    assert replies[0].final_values.tolist() == []
    assert replies[1].final_values.tolist() == [110.0, 111.0]
    assert replies[2].final_values.tolist() == [121.0]
    assert agents.mail.final_values[0].tolist() == [-1.0, -1.0]
    for rank, reply in enumerate(replies):  # the final observations did not shift anyone's actions
        assert reply.actions.tolist() == actions_for(rank)
    totals = agents.stats.totals()
    assert (totals.predictions, totals.predict_rows, totals.predict_batches) == (6, 9, 1)


def test_a_lone_agent_is_not_kept_waiting_for_company():
    agents = FakeAgents(3)
    # Agents 0 and 2 are still starting up (never heard from): agent 1 is answered at once,
    # though the predictor would wait 30 s to fill a batch.
    posted = agents.post(1)
    start = time.monotonic()
    requests = agents.board.gather(max_rows=64, wait_s=30.0)
    assert time.monotonic() - start < 1.0
    assert [r.line.rank for r in requests] == [1]
    agents.predictor.predict(requests)
    assert reply_of(posted).actions.tolist() == actions_for(1)


def test_agents_in_another_batch_are_not_waited_for():
    agents = FakeAgents(3)
    agents.round()  # all three heard from
    # Agents 0 and 2 fill one predictor's batch (max_rows 4) and are not answered yet...
    first_posts = [agents.post(0), agents.post(2)]
    first = agents.board.gather(max_rows=2 * ENVS, wait_s=30.0)
    assert sorted(r.line.rank for r in first) == [0, 2]
    # ...so when agent 1 posts, nobody else can: the next batch goes out with it alone.
    lone = agents.post(1)
    start = time.monotonic()
    second = agents.board.gather(max_rows=64, wait_s=30.0)
    assert time.monotonic() - start < 1.0
    assert [r.line.rank for r in second] == [1]
    agents.predictor.predict(second)
    agents.predictor.predict(first)
    assert reply_of(lone).actions.tolist() == actions_for(1)
    assert [reply_of(p).actions.tolist() for p in first_posts] == [actions_for(0), actions_for(2)]
    assert agents.board.in_service == 0


def test_the_predictor_waits_for_agents_that_can_still_post():
    agents = FakeAgents(3)
    agents.round()  # all three heard from, none in service: each could post again
    agents.net.batch_sizes.clear()
    posted = [agents.post(0)]
    gathered: list = []
    gatherer = threading.Thread(target=lambda: gathered.extend(agents.board.gather(64, wait_s=10.0)), daemon=True)
    gatherer.start()
    agents.wait_until(lambda: not agents.readers[0].poll(), "the predictor did not take agent 0's request")
    # after the predictor took agent 0, and within its wait_s
    posted += [agents.post(1, until_in_pipe=False), agents.post(2, until_in_pipe=False)]
    gatherer.join(10.0)
    assert sorted(r.line.rank for r in gathered) == [0, 1, 2]
    agents.predictor.predict(gathered)
    assert agents.net.batch_sizes == [3 * ENVS]
    assert [reply_of(p).actions.tolist() for p in posted] == [actions_for(r) for r in range(3)]


def test_a_reply_to_a_replaced_agent_is_dropped():
    agents = FakeAgents(2)
    posted = agents.post(0)
    requests = agents.board.gather(max_rows=64, wait_s=5.0)
    # Agent 0 dies and is replaced before the forward pass ends: its old line must not be answered.
    agents.board.disconnect(0)
    replacement_reader, _ = multiprocessing.get_context("spawn").Pipe(duplex=False)
    fresh = multiprocessing.get_context("spawn").Semaphore(0)
    agents.board.connect(AgentLine(0, 1, replacement_reader, fresh))
    agents.mail.actions[0] = -5
    agents.predictor.predict(requests)
    assert agents.mail.actions[0].tolist() == [-5, -5]
    assert not agents.semaphores[0].acquire(block=False) and not fresh.acquire(block=False)
    assert agents.board.in_service == 0
    assert posted["thread"].is_alive()  # still waiting: in the engine, its process is dead by now
    agents.stopped.set()
    assert reply_of(posted) is None


# ----- the dynamic adjuster -----

class FakeControls:
    """The engine's controls with scripted training rates; checks every count it is given."""

    def __init__(self, counts: dict, limits: dict, rates: list, when_done=lambda: None):
        self._counts, self.limits, self.rates, self.when_done = dict(counts), dict(limits), list(rates), when_done
        self.changes: list[tuple[str, int]] = []

    def counts(self) -> dict:
        return dict(self._counts)

    def set_count(self, role: str, count: int) -> None:
        assert 1 <= count <= self.limits[role], (role, count)
        self.changes.append((role, count))
        self._counts[role] = count

    def training_rate(self, seconds: float):
        rate = self.rates.pop(0)
        if not self.rates:
            self.when_done()
        return rate


@pytest.mark.parametrize("cap, taken", [(0, [0, 1, 2, 3, 4]), (2, [0, 1]), (1, [0])])
def test_a_trainer_takes_the_backlog_up_to_max_train_batch(cap, taken):
    import queue as queue_lib
    from types import SimpleNamespace

    from a3c.engines.ga3c.trainer import Trainer

    pool = SimpleNamespace(full=queue_lib.Queue())
    for slot in range(5):
        pool.full.put(slot)
    cfg = a3c.Config(train_batch=1, max_train_batch=cap)
    trainer = Trainer(0, cfg, pool, shared=None, dist=None, stats=None, device=None, on_crash=None)
    assert trainer.gather() == taken
    assert pool.full.qsize() == 5 - len(taken)  # the rest wait for the next update, in order
    if len(taken) < 5:
        assert trainer.gather()[0] == len(taken)


def test_adjuster_keeps_a_change_that_pays_and_reverts_one_that_does_not():
    start = {"agents": 2, "predictors": 1, "trainers": 1}
    # baseline 100; the first change gives 110 (> 2% better: kept); the second 111 (< 2% over 110: reverted),
    # after which the baseline is measured afresh (105) and the adjuster is told to stop.
    limits = {"agents": 4, "predictors": 2, "trainers": 2}
    messages: list[str] = []
    controls = FakeControls(start, limits, [100.0, 110.0, 111.0, 105.0], when_done=lambda: adjuster.stop_event.set())
    adjuster = DynamicAdjuster(controls, interval_s=5.0, seed=3, emit=messages.append)
    adjuster.run()  # in this thread

    (role1, count1), (role2, count2), (role2_again, reverted) = controls.changes
    first_before = start[role1]
    assert abs(count1 - first_before) == 1
    second_before = count1 if role2 == role1 else start[role2]
    assert abs(count2 - second_before) == 1
    assert role2_again == role2 and reverted == second_before
    final = dict(start, **{role1: count1})
    assert controls.counts() == final  # the kept change stands, the reverted one is undone
    assert len(messages) == 2
    assert f"{role1} {first_before} -> {count1} kept" in messages[0]
    assert "100 -> 110" in messages[0]
    assert f"{role2} {second_before} -> {count2} reverted to {second_before}" in messages[1]
    assert "110 -> 111" in messages[1]
    assert controls.rates == [] and adjuster.baseline == 105.0  # re-measured after the revert


def test_adjuster_leaves_off_when_the_engine_stops_mid_trial():
    controls = FakeControls({"agents": 2, "predictors": 1, "trainers": 1},
                            {"agents": 3, "predictors": 2, "trainers": 2}, [100.0, None])
    messages: list[str] = []
    adjuster = DynamicAdjuster(controls, interval_s=5.0, seed=0, emit=messages.append)
    adjuster.run()  # returns: the engine is stopping, so neither keep nor revert is reported
    assert len(controls.changes) == 1 and messages == [] and adjuster.baseline is None


@pytest.mark.parametrize("rate, kept", [(100.0 * (1 + MARGIN) * 1.001, True), (100.0 * (1 + MARGIN) * 0.999, False)])
def test_adjuster_margin(rate, kept):
    controls = FakeControls({"agents": 2, "predictors": 1, "trainers": 1},
                            {"agents": 3, "predictors": 1, "trainers": 1}, [rate, 100.0])
    messages: list[str] = []
    adjuster = DynamicAdjuster(controls, interval_s=5.0, seed=0, emit=messages.append)
    adjuster.baseline = 100.0
    adjuster.trial()
    # predictors and trainers are pinned at their limit of 1: only agents can move, 2 -> 3 or 2 -> 1
    role, count = controls.changes[0]
    assert role == "agents" and count in (1, 3)
    assert controls.counts()["agents"] == (count if kept else 2)
    assert ("kept" in messages[0]) is kept and ("reverted" in messages[0]) is not kept


def test_adjuster_stays_within_one_and_the_limit():
    controls = FakeControls({"agents": 4, "predictors": 1, "trainers": 2},
                            {"agents": 4, "predictors": 3, "trainers": 2}, [])
    adjuster = DynamicAdjuster(controls, interval_s=1.0, seed=1, emit=lambda text: None)
    moves = {adjuster.propose() for _ in range(200)}
    # agents and trainers at their limits can only go down, predictors at 1 only up
    assert moves == {("agents", -1), ("predictors", 1), ("trainers", -1)}
    # nothing can move when every role is pinned at 1 = its limit: the trial only re-measures
    pinned = FakeControls({r: 1 for r in ROLES}, {r: 1 for r in ROLES}, [90.0])
    adjuster = DynamicAdjuster(pinned, interval_s=1.0, seed=1, emit=lambda text: pytest.fail(text))
    adjuster.baseline = 100.0
    adjuster.trial()
    assert pinned.changes == [] and adjuster.baseline == 90.0


def test_adjuster_reports_its_own_crash():
    class Broken(FakeControls):
        def training_rate(self, seconds):
            raise RuntimeError("boom")

    crashes: list[dict] = []
    adjuster = DynamicAdjuster(Broken({r: 1 for r in ROLES}, {r: 2 for r in ROLES}, []), 1.0, 0,
                               emit=lambda text: None, on_crash=crashes.append)
    adjuster.run()
    (crash,) = crashes
    assert isinstance(crash, Crash) and crash.role == "adjuster" and "boom" in crash.error


# ----- whole runs -----

def descendants_alive() -> list[psutil.Process]:
    """This process's descendants that are still running, apart from multiprocessing's own
    long-lived helpers (the fork server the engines fork from, and the resource tracker)."""
    helpers = {fork_server_pid(), getattr(resource_tracker._resource_tracker, "_pid", None)}
    alive = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid not in helpers and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def fork_server_pid():
    """The fork server every engine process is forked from (so the agents are its children); None before it starts."""
    return getattr(forkserver._forkserver, "_forkserver_pid", None)


def read_metrics(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def number(text: str):
    return float(text) if text not in ("", None) else None


def test_a_run_stops_every_child_and_logs_the_ga3c_columns(tmp_path):
    before = {p.pid for p in descendants_alive()}
    # The preset can solve CartPole in seconds: an unreachable target keeps the run to its step budget.
    cfg = a3c.Config.for_env("CartPole-v1", algo="ga3c", workers=2, total_steps=100_000, time_limit=8,
                             target_return=1000.0, log_interval_s=0.5, progress=False, tensorboard=False,
                             run_dir=str(tmp_path / "run"))
    result = a3c.train(cfg)
    assert result.stop_reason in ("total_steps", "time_limit")
    assert multiprocessing.active_children() == []
    assert [p for p in descendants_alive() if p.pid not in before] == []
    assert not [t for t in threading.enumerate() if t.name.startswith("ga3c-") and t.is_alive()]

    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stop_reason"] == result.stop_reason and summary["algo"] == "ga3c"
    assert summary["env_steps"] > 0 and summary["updates"] > 0
    # The counts the adjuster had settled on when the run ended, within their limits.
    facts = summary["engine"]
    assert 1 <= facts["agents"] <= cfg.max_agents and 1 <= facts["predictors"] <= cfg.max_predictors
    assert 1 <= facts["trainers"] <= cfg.max_trainers and facts["restarts"] == 0
    rows = read_metrics(tmp_path / "run")
    assert rows and set(GA3C_COLUMNS) <= set(rows[0])
    for row in rows:
        assert int(row["agents"]) >= 1 and int(row["predictors"]) >= 1 and int(row["trainers"]) >= 1
        assert number(row["pps"]) >= 0 and number(row["tps"]) >= 0
    working = [r for r in rows if number(r["tps"]) > 0]  # rows of an interval in which training happened
    assert working, rows
    assert max(number(r["pps"]) for r in rows) > 0
    assert all(number(r["predict_batch_mean"]) >= cfg.envs_per_worker for r in rows if r["predict_batch_mean"])
    assert all(number(r["policy_lag"]) >= 0 for r in working if r["policy_lag"])
    assert any(r["policy_lag"] for r in working)


# Recurrent: the replacement starts from zero state in its row, whatever its predecessor left there.
@pytest.mark.parametrize("policy", [[], ["--set", "recurrent=true"]], ids=["feed-forward", "recurrent"])
def test_a_killed_agent_is_restarted_and_the_run_finishes(tmp_path, capsys, policy):
    from a3c.cli import main

    run_dir = tmp_path / "run"
    killed: dict = {}

    def kill_an_agent_once_training_is_under_way():
        # Agents are found through psutil as the fork server's children: multiprocessing.active_children()
        # would poll the agents' Popen objects from this thread while the engine polls them from its own.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = read_metrics(run_dir) if (run_dir / "metrics.csv").exists() else []
            steps = rows[-1]["env_steps"] if rows else ""
            if steps.isdigit() and int(steps) > 0 and fork_server_pid():
                agents = psutil.Process(fork_server_pid()).children()
                if agents:
                    killed.update(pid=agents[0].pid, env_steps=int(steps))
                    agents[0].send_signal(signal.SIGKILL)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_an_agent_once_training_is_under_way, daemon=True)
    killer.start()
    code = main(["train", "CartPole-v1", "--algo", "ga3c", "--workers", "2", "--total-steps", "150000",
                 "--time-limit", "10", "--target-return", "1000", "--run-dir", str(run_dir),
                 "--set", "progress=false", "--set", "tensorboard=false", "--set", "dynamic_adjust=false",
                 "--set", "log_interval_s=0.5", *policy])
    killer.join(1.0)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert killed, "no agent was found to kill"
    stop_reason = json.loads(out.strip().splitlines()[-1])["stop_reason"]
    assert stop_reason in ("total_steps", "time_limit")

    events = (run_dir / "events.log").read_text()
    assert re.search(rf"agent \d+ \(pid {killed['pid']}\) died with exit code -9; restarting it", events), events
    assert "crashed" not in events, events
    rows = read_metrics(run_dir)
    assert int(rows[-1]["restarts"]) == 1
    assert int(rows[-1]["env_steps"]) > killed["env_steps"]  # the run went on after the restart
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stop_reason"] == stop_reason and summary["env_steps"] == int(rows[-1]["env_steps"])
    assert multiprocessing.active_children() == []


# ----- mistakes: exit 2, one paragraph -----

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: --device cuda is valid here")
def test_device_cuda_without_cuda_exits_2_naming_the_allowed_values(tmp_path, capsys):
    from a3c.cli import main

    assert main(["train", "CartPole-v1", "--algo", "ga3c", "--device", "cuda", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and "--device cpu" in err and "--device auto" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # a rejected run leaves nothing behind


@pytest.mark.parametrize("args, fragments", [
    (["--backend", "ray", "--set", "deterministic=true"], ["'deterministic'", "deterministic=true runs in one process",
                                                           "it needs --backend local"]),
])
def test_configs_the_engine_refuses_exit_2_and_write_nothing(args, fragments, tmp_path, capsys):
    from a3c.cli import main

    assert main(["train", "CartPole-v1", "--algo", "ga3c", *args, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # a rejected run leaves nothing behind


# ----- learning -----

@pytest.mark.slow
def test_ga3c_learns_cartpole(tmp_path):
    cfg = a3c.Config.for_env(
        "CartPole-v1", algo="ga3c", seed=0, target_return=475.0, time_limit=120, progress=False, tensorboard=False,
        run_dir=str(tmp_path / "run"),
    )
    result = a3c.train(cfg)
    assert result.stop_reason == "target_reached", result
    assert result.mean_return_100 >= 475, result
    assert result.time_to_target_s is not None and result.time_to_target_s < 120
    assert multiprocessing.active_children() == []
