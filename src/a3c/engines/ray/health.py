"""The cluster's health as the driver sees it, and what it decides from it.

    HeadWatch   whether the head node's GCS still answers; once it does not, the run stops as a
                local crash does (RunFailed: checkpoint, summary.json, exit 1, then --resume)
    NodeState   what the cluster says of one node, and whether its raylet answered us just now
    Placement   which node each runner is on, every node the run has used, and the lost-node
                decision: of the nodes whose runners died, which left the cluster (each node
                decided once per round, from one look at the cluster, and counted once)

The decisions are pure: Placement.decide takes node states, so a test can feed it any cluster.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from a3c.errors import RunFailed

# How often the driver asks whether the head node's GCS still answers. Without the GCS every call
# that needs it (replacing a runner, listing nodes, stopping actors) blocks, and Ray's core worker
# ends the process after 60 s, before the run could write its checkpoint and summary.
HEAD_PROBE_EVERY_S = 1.0


def answers(host: str | None, port: int | None) -> bool:
    """Whether host:port (a raylet's, the GCS's) accepts a connection within a second."""
    if not host or not port:
        return True  # nothing to ask: assume it is there
    try:
        socket.create_connection((host, int(port)), timeout=1.0).close()
    except OSError:
        return False
    return True


def gcs_endpoint(ray) -> tuple[str | None, int | None]:
    """(host, port) of the cluster's GCS, on the head node; (None, None) if Ray does not say."""
    try:
        host, _, port = ray.get_runtime_context().gcs_address.rpartition(":")
        return host.strip("[]"), int(port)
    except Exception:
        return None, None


class HeadWatch:
    def __init__(self, gcs: tuple[str | None, int | None], every_s: float = HEAD_PROBE_EVERY_S):
        self.gcs, self.every_s = gcs, every_s
        self._probed = time.monotonic()
        self.lost = False

    def check(self, now: bool = False) -> None:
        """Raise RunFailed once the head's GCS no longer answers; asked at most every `every_s`
        unless now (a runner's death may be the head's: find out before asking the GCS anything)."""
        if not now and time.monotonic() - self._probed < self.every_s:
            return
        self._probed = time.monotonic()
        if answers(*self.gcs) or answers(*self.gcs):  # twice: one refused connection is not a lost node
            return
        self.lost = True
        host, port = self.gcs
        raise RunFailed(
            f"lost the Ray cluster's head node: its GCS at {host}:{port} no longer answers. The run "
            "stopped with a checkpoint; once a cluster is up again, continue with "
            "`a3c train --resume RUN_DIR` (add --ray-address for a new head's address)"
        )


@dataclass(frozen=True)
class NodeState:
    node_id: str
    alive: bool  # the cluster's own view; its health checks take seconds to notice a lost machine
    answers: bool  # its raylet accepted a connection just now (a run can end before Ray notices)

    @property
    def gone(self) -> bool:
        return not self.alive or not self.answers


def node_states(ray, node_ids: set[str]) -> list[NodeState] | None:
    """What the cluster says of these nodes, each live one's raylet asked too; None when the cluster
    cannot say right now."""
    try:
        nodes = [n for n in ray.nodes() if n["NodeID"] in node_ids]
    except Exception:
        return None
    states = []
    for n in nodes:
        alive = bool(n.get("Alive", True))
        reachable = alive and answers(n.get("NodeManagerAddress"), n.get("NodeManagerPort"))
        states.append(NodeState(n["NodeID"], alive, reachable))
    return states


class Placement:
    def __init__(self):
        self.of: dict[int, str] = {}  # rank -> node id of its runner
        self.used: set[str] = set()  # every node that has held a runner in this run
        self.lost: set[str] = set()  # of those, the ones that left the cluster

    def placed(self, rank: int, node: str) -> None:
        self.of[rank] = node
        self.used.add(node)

    def nodes_now(self) -> int:
        """Nodes holding a runner now."""
        return len(set(self.of.values()))

    def suspects(self, ranks: Iterable[int]) -> set[str]:
        """The nodes the runners of these (dead) ranks were on: the ones to ask the cluster about."""
        return {self.of[rank] for rank in ranks if rank in self.of}

    def decide(self, dead: list[tuple[int, str]], states: list[NodeState] | None) -> list[tuple[int, str]]:
        """Each dead runner (rank, why), its why naming its node where that node left the cluster;
        states: the suspects' states from one look at the cluster (None: it could not say, and the
        runners are replaced all the same). Lost nodes join self.lost once; dead ranks are unplaced."""
        gone = {s.node_id for s in states or () if s.gone}
        self.lost |= gone
        decided = []
        for rank, why in dead:
            node = self.of.pop(rank, None)
            if node in gone:
                why += f": its node {node[:8]} left the cluster"
            decided.append((rank, why))
        return decided
