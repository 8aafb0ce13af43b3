"""GA3C prediction (NVlabs ThreadPredictor): threads in the learner that batch the agents'
observations into one forward pass and write actions back.

`RequestBoard` is the learner's end of the agents' pipes: a request is a 4-byte note
(how many final observations ride along) on an agent's pipe, the observations
themselves already being in its shared mailbox. An 8-byte note starting with PUBLISH
hands a filled segment slot to the trainers instead. One predictor gathers at a time;
the others run their forward passes meanwhile.

For a recurrent policy the forward pass also reads each env's state from the mailboxes
(zeroed where the agent flags an episode start) and the reply writes the new state back.
A truncated episode's final observation goes in with its env's state before that reset:
the state of the episode it ends.

A predictor that raises hands its requests back (`requeue`) before it dies, so the next
predictor answers them: an agent is never left waiting on a reply nobody will send.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import torch

from a3c.device import to_device
from a3c.distributions import Distribution
from a3c.engines.ga3c.agent import PUBLISH
from a3c.engines.ga3c.buffers import Mailboxes
from a3c.engines.ga3c.shared_model import SharedModel
from a3c.engines.ga3c.stats import Stats
from a3c.engines.messages import Crash
from a3c.models import State

POLL_S = 0.2  # longest a predictor waits for a first request before checking whether to stop


@dataclass(eq=False)
class AgentLine:
    """One agent incarnation as the learner sees it: its pipe, and the semaphore that wakes it."""

    rank: int
    incarnation: int
    conn: Connection
    reply: Any  # a multiprocessing Semaphore (its class is private to multiprocessing.synchronize)
    heard: bool = False  # it has posted at least once (it is past start-up)
    published: int = 0  # segments it has handed to the trainers (it is making progress)


@dataclass
class Request:
    line: AgentLine
    n_final: int  # final observations (episodes cut by a time limit) after its E observations


class RequestBoard:
    def __init__(self, mail: Mailboxes, on_publish: Callable[[int, int], None] | None = None):
        self.mail, self.on_publish = mail, on_publish  # on_publish(rank, slot): SegmentPool.published
        self._gather_lock = threading.Lock()  # one predictor reads the pipes at a time
        self._table_lock = threading.Lock()  # the agent table, against replies to a replaced agent
        self._lines: dict[int, AgentLine] = {}
        self.in_service = 0  # requests taken by a predictor and not yet answered
        self._service_lock = threading.Lock()  # in_service and the requeued requests
        self._requeued: list[Request] = []  # taken by a predictor that died before answering

    # ----- the agent table (engine side) -----
    def connect(self, line: AgentLine) -> None:
        with self._gather_lock, self._table_lock:
            self._lines[line.rank] = line

    def disconnect(self, rank: int) -> None:
        with self._gather_lock, self._table_lock:
            line = self._lines.pop(rank, None)
        if line is not None:
            line.conn.close()

    def heard_from(self, rank: int) -> bool:
        line = self._lines.get(rank)
        return line is not None and line.heard

    def published_by(self, rank: int) -> int:
        line = self._lines.get(rank)
        return 0 if line is None else line.published

    def requeue(self, requests: list[Request]) -> None:
        """Requests a predictor took and cannot answer: the next gather returns them first."""
        with self._service_lock:
            self._requeued.extend(requests)
            self.in_service -= len(requests)

    # ----- the predictors' side -----
    def gather(self, max_rows: int, wait_s: float) -> list[Request]:
        """Requests for up to max_rows observations: block for the first, then wait at most
        wait_s for more, and not at all once every live agent has posted (no lone agent
        is kept waiting for company that cannot come)."""
        envs = self.mail.envs_per_agent
        with self._gather_lock:
            lines = {line.conn: line for line in self._lines.values()}
            with self._service_lock:
                # Requests of agents still connected; one from a replaced agent is dropped.
                requests = [r for r in self._requeued if self._lines.get(r.line.rank) is r.line]
                self._requeued = []
            if not requests:
                requests = self._read(wait(list(lines), timeout=POLL_S), lines)
            rows = sum(envs + r.n_final for r in requests)
            deadline = time.monotonic() + wait_s
            while requests and rows < max_rows:
                # Agents in another predictor's batch cannot post again until answered.
                could_post = sum(line.heard for line in lines.values()) - self.in_service - len(requests)
                remaining = deadline - time.monotonic()
                if could_post <= 0 or remaining <= 0:
                    break
                taken = {r.line.conn for r in requests}
                more = self._read(wait([c for c in lines if c not in taken], timeout=remaining), lines)
                requests += more
                rows += sum(envs + r.n_final for r in more)
            with self._service_lock:
                self.in_service += len(requests)
        return requests

    def _read(self, ready, lines: dict[Connection, AgentLine]) -> list[Request]:
        requests = []
        for conn in ready:
            line = lines[conn]
            while True:
                try:
                    note = conn.recv_bytes()
                except (EOFError, OSError):  # the agent died; the engine's supervise() restarts it
                    lines.pop(conn)
                    with self._table_lock:
                        if self._lines.get(line.rank) is line:
                            del self._lines[line.rank]
                    conn.close()
                    break
                if len(note) == 8 and note[:4] == PUBLISH:  # a filled segment, not a request
                    line.published += 1
                    if self.on_publish is not None:
                        self.on_publish(line.rank, int.from_bytes(note[4:], "little"))
                    if conn.poll(0):  # its next request is usually right behind it
                        continue
                    break
                line.heard = True
                requests.append(Request(line, int.from_bytes(note, "little")))
                break
        return requests

    def reply(
        self,
        requests: list[Request],
        actions: torch.Tensor,
        log_probs: torch.Tensor,
        values: torch.Tensor,
        final_values: torch.Tensor,
        version: int,
        state: State = None,
    ) -> None:
        """Write each agent's actions [E, ...], log-probs [E], values [E], final values and new recurrent
        state ([k, E, H] each of h, c; None when feed-forward) into its mailbox, then wake it.
        actions/log_probs/values are [k, E, ...] in request order; final_values are concatenated."""
        mail = self.mail
        with self._table_lock:
            # A request from an agent that has since died and been replaced is dropped, never answered.
            live = [i for i, r in enumerate(requests) if self._lines.get(r.line.rank) is r.line]
            live_set = set(live)
            if live:
                keep = live if len(live) < len(requests) else slice(None)
                ranks = torch.tensor([requests[i].line.rank for i in live])
                mail.actions[ranks] = actions[keep]
                mail.log_probs[ranks] = log_probs[keep]
                mail.values[ranks] = values[keep]
                mail.version[ranks] = version
                if state is not None:
                    mail.h[ranks] = state[0][keep]
                    mail.c[ranks] = state[1][keep]
            offset = 0
            for i, r in enumerate(requests):
                if r.n_final and i in live_set:
                    mail.final_values[r.line.rank, : r.n_final] = final_values[offset : offset + r.n_final]
                offset += r.n_final
            for i in live:
                requests[i].line.reply.release()
            with self._service_lock:
                self.in_service -= len(requests)


class Predictor(threading.Thread):
    def __init__(
        self,
        index: int,
        board: RequestBoard,
        shared: SharedModel,
        dist: Distribution,
        stats: Stats,
        device: torch.device,
        max_rows: int,
        wait_s: float,
        on_crash: Callable[[Crash], None],
    ):
        super().__init__(name=f"ga3c-predictor-{index}", daemon=True)
        self.index, self.board, self.shared, self.dist, self.stats = index, board, shared, dist, stats
        self.device, self.max_rows, self.wait_s, self.on_crash = device, max_rows, wait_s, on_crash
        self.stop_event = threading.Event()
        self.batches = 0  # forward passes answered: a predictor that answered none made no progress

    @property
    def progress(self) -> int:
        """Forward passes answered: one that answered none before it died made no progress."""
        return self.batches

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                requests = self.board.gather(self.max_rows, self.wait_s)
                if requests:
                    try:
                        self.predict(requests)
                    except BaseException:
                        self.board.requeue(requests)  # the next predictor answers them
                        raise
                    self.batches += 1
        except Exception:
            self.on_crash(Crash.now("predictor", self.index))

    @torch.no_grad()
    def predict(self, requests: list[Request]) -> None:
        mail, envs, k = self.board.mail, self.board.mail.envs_per_agent, len(requests)
        ranks = torch.tensor([r.line.rank for r in requests])
        obs = mail.obs.index_select(0, ranks).flatten(0, 1)  # [k*E, *obs_shape]
        finals = [mail.final_obs[r.line.rank, : r.n_final] for r in requests if r.n_final]
        if finals:
            obs = torch.cat([obs, *finals])  # truncated episodes' last obs ride in the same pass
        state: State = None
        if mail.recurrent:
            h, c = recurrent_inputs(mail, requests, ranks)
            state = to_device(h, self.device), to_device(c, self.device)
        params, values, state, version = self.shared.predict(to_device(obs, self.device), state)
        n = k * envs
        actions = self.dist.sample(params[:n])
        log_probs = self.dist.log_prob(params[:n], actions)
        values = values.cpu()  # the acting rows' values [k*E], then the final rows'
        actions, log_probs, final_values = actions.cpu(), log_probs.cpu(), values[n:]
        if state is not None:  # the new state of the acting rows; the final rows' is of episodes that ended
            state = state[0][:n].cpu().view(k, envs, -1), state[1][:n].cpu().view(k, envs, -1)
        self.stats.predicted(actions=n, rows=obs.shape[0])
        # The reply comes last: whatever raised before it, the requests can be requeued, never answered twice.
        self.board.reply(
            requests,
            actions.view(k, envs, *actions.shape[1:]),
            log_probs.view(k, envs),
            values[:n].view(k, envs),
            final_values,
            version,
            state,
        )


def recurrent_inputs(
    mail: Mailboxes, requests: list[Request], ranks: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(h, c), each [k*E + finals, H], in the row order of the predictor's batch: each env's
    state, zeroed where its observation starts an episode, then for each final observation the
    state of the episode it ends (its env's state before that reset)."""
    keep = (1.0 - mail.starts.index_select(0, ranks)).flatten(0, 1).unsqueeze(-1)  # [k*E, 1]
    parts = []
    for stored in (mail.h, mail.c):
        rows = [stored.index_select(0, ranks).flatten(0, 1) * keep]
        rows += [stored[r.line.rank, mail.final_envs[r.line.rank, : r.n_final]] for r in requests if r.n_final]
        parts.append(torch.cat(rows))
    return parts[0], parts[1]
