"""The Ray engine's parts that need no cluster: the runners' typed replies as Ray carries them,
the lost-node decision fed node states, and the A3C part applying a job's gradients."""

from __future__ import annotations

import pickle
import socket

import numpy as np
import pytest
import torch

from a3c.config import Config
from a3c.distributions import Categorical, distribution_for
from a3c.engines.base import EngineParts, Incarnations
from a3c.engines.ray.algorithms import RayA3C
from a3c.engines.ray.engine import RayEngine
from a3c.engines.ray.health import NodeState, Placement, node_states
from a3c.engines.ray.jobs import A3CResult, Gradient, SegmentResult
from a3c.engines.weights import params_to_vector
from a3c.envs import make_env_group
from a3c.models import build_model
from a3c.normalization import Moments
from a3c.optim import build_optimizer
from a3c.rollout import Rollout
from fakes import NullCounters


def _as_ray_carries_it(value):
    """Pickle protocol 5 with numpy arrays out of band, as Ray serializes a reply; arrays that
    arrive from the object store are read-only."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    return pickle.loads(head, buffers=[memoryview(b).toreadonly() for b in buffers])


# ----- typed replies -----


def test_a_segment_reply_crosses_as_a_pickle_and_becomes_a_rollout_the_driver_owns():
    T, E = 3, 2
    # Every field of a Rollout, as an EnvRunner's collector holds them (frames stay uint8).
    segment = Rollout.allocate(T, E, (4,), torch.uint8, Categorical(2)).numpy()
    segment["obs"][:] = np.arange((T + 1) * E * 4, dtype=np.uint8).reshape(T + 1, E, 4)
    segment["rewards"][:] = 0.5
    reply = _as_ray_carries_it(SegmentResult(7, T * E, segment, [1.0], [10], ["Traceback ..."], None))
    assert isinstance(reply, SegmentResult) and reply.version == 7 and reply.env_steps == 6
    assert not reply.segment["obs"].flags.writeable
    rollout, versions = reply.rollout()
    assert rollout.obs.dtype == torch.uint8 and rollout.t_max == T and rollout.n_envs == E
    assert all(np.array_equal(tensor.numpy(), segment[name]) for name, tensor in rollout.tensors().items())
    rollout.rewards += 1.0  # writable: a copy, not a view of Ray's buffer
    assert torch.equal(versions, torch.full((T,), 7, dtype=torch.int64))
    assert reply.returns == [1.0] and reply.lengths == [10] and reply.env_errors == ["Traceback ..."]


def test_an_a3c_reply_keeps_each_gradient_a_float32_vector():
    moments = Moments(4.0, np.zeros(2), np.ones(2))
    gradient = Gradient(np.arange(5, dtype=np.float32), 40, [9.0], [9], {"policy_loss": 0.1}, moments)
    reply = _as_ray_carries_it(A3CResult(2, [gradient, gradient], reward_moments=moments))
    assert reply.version == 2 and len(reply.gradients) == 2 and reply.env_errors == []
    first = reply.gradients[0]
    assert first.grads.dtype == np.float32 and np.array_equal(first.grads, np.arange(5))
    assert first.env_steps == 40 and first.sums == {"policy_loss": 0.1}
    # The statistics arrive as the type the driver's rows merge, values intact.
    for arrived in (first.obs_moments, reply.reward_moments):
        assert isinstance(arrived, Moments) and arrived.count == 4.0
        assert np.array_equal(arrived.mean, np.zeros(2)) and np.array_equal(arrived.m2, np.ones(2))


# ----- lost nodes: pure decisions from node states -----


def _placement() -> Placement:
    placement = Placement()
    for rank, node in enumerate(["node-a-1", "node-a-1", "node-b-2", "node-c-3"]):
        placement.placed(rank, node)
    return placement


def test_runners_of_a_lost_node_name_it_and_the_node_is_counted_once():
    placement = _placement()
    dead = [(0, "died (ActorDiedError)"), (1, "died (ActorDiedError)"), (3, "raised an error")]
    assert placement.suspects(rank for rank, _ in dead) == {"node-a-1", "node-c-3"}
    states = [NodeState("node-a-1", alive=False, answers=False), NodeState("node-c-3", alive=True, answers=True)]
    decided = placement.decide(dead, states)
    assert decided == [
        (0, "died (ActorDiedError): its node node-a-1 left the cluster"),
        (1, "died (ActorDiedError): its node node-a-1 left the cluster"),
        (3, "raised an error"),  # its node is fine: the runner alone died
    ]
    assert placement.lost == {"node-a-1"}  # two runners, one node lost
    assert placement.of == {2: "node-b-2"} and placement.nodes_now() == 1  # the dead are unplaced
    placement.placed(0, "node-b-2")  # replacements land elsewhere
    assert placement.used == {"node-a-1", "node-b-2", "node-c-3"} and placement.nodes_now() == 1


def test_a_node_the_cluster_still_calls_alive_is_lost_when_its_raylet_does_not_answer():
    placement = _placement()
    decided = placement.decide([(2, "died (ActorDiedError)")], [NodeState("node-b-2", alive=True, answers=False)])
    assert decided == [(2, "died (ActorDiedError): its node node-b-2 left the cluster")]
    assert placement.lost == {"node-b-2"}


def test_when_the_cluster_cannot_say_no_node_is_lost_and_runners_are_replaced_all_the_same():
    placement = _placement()
    assert placement.decide([(0, "died (ActorDiedError)")], None) == [(0, "died (ActorDiedError)")]
    assert placement.lost == set() and 0 not in placement.of


def test_node_states_asks_the_raylet_of_live_nodes_only():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    open_port = listener.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more

    class FakeRay:
        def nodes(self):
            return [
                dict(NodeID="up", Alive=True, NodeManagerAddress="127.0.0.1", NodeManagerPort=open_port),
                dict(NodeID="mute", Alive=True, NodeManagerAddress="127.0.0.1", NodeManagerPort=closed_port),
                dict(NodeID="dead", Alive=False, NodeManagerAddress="127.0.0.1", NodeManagerPort=closed_port),
                dict(NodeID="other", Alive=False),  # not asked about
            ]

    try:
        states = node_states(FakeRay(), {"up", "mute", "dead"})
    finally:
        listener.close()
    assert states == [NodeState("up", True, True), NodeState("mute", True, False), NodeState("dead", False, False)]
    assert [s.gone for s in states] == [False, True, True]

    class Unreachable:
        def nodes(self):
            raise TimeoutError("GCS")

    assert node_states(Unreachable(), {"up"}) is None


def test_a_replacement_still_starting_when_the_run_ends_counts_among_the_run_s_nodes():
    """The run can end before a replaced runner's setup has said where it runs; its node held a
    runner all the same, so close() waits (bounded) for that answer before killing the runners."""

    class Where:
        def __init__(self, node_id):
            self.node_id = node_id

    class SlowSetupRay:
        """The replacement's setup ("ref-new") answers only to a wait that allows time."""

        def __init__(self):
            self.waits: list = []  # each wait's timeout

        def wait(self, refs, num_returns, timeout):
            self.waits.append(timeout)
            return ([r for r in refs if timeout != 0], [])

        def get(self, ref):
            return Where("node-c")

        def kill(self, actor, no_restart):
            pass

        def is_initialized(self):
            return False

    class Head:
        lost = False

    engine = RayEngine.__new__(RayEngine)  # its parts, not a cluster
    engine.ray, engine.head, engine._ours = SlowSetupRay(), Head(), False
    engine.placement = Placement()
    engine.placement.placed(0, "node-a")
    engine.placement.placed(1, "node-b")
    engine.placement.decide([(1, "died")], None)  # node-b's runner died; its replacement is starting
    engine.incarnations, engine._first_incarnation = Incarnations(2), 0
    engine.incarnations.bump(1)
    engine.locating, engine.inbox, engine.runners, engine.jobs = {"ref-new": 1}, [], [], {}

    engine._locate()  # the training loop's look: nothing has answered yet
    assert engine.placement.used == {"node-a", "node-b"}
    messages = engine.close()
    assert engine.placement.used == {"node-a", "node-b", "node-c"}
    assert engine.ray.waits[-1] not in (0, None), "close() must not wait without bound"
    assert any("(incarnation 1) runs on node node-c" in str(m) for m in messages), messages


# ----- the A3C part: a job's gradients through the learner -----


def test_the_a3c_part_applies_a_job_s_gradients_in_order_and_counts_their_lag():
    cfg = Config.for_env("CartPole-v1", workers=1)
    envs = make_env_group(cfg, 1, [0])
    dist = distribution_for(envs.action_space)
    model = build_model(cfg, envs.spec, dist)
    envs.close()
    parts = EngineParts(cfg, model, build_optimizer(cfg, model.parameters()), NullCounters(), None, envs.spec, None)
    part = RayA3C(parts)
    part.learner.version = 5  # five updates applied since the runner's weights (version 3)
    size = params_to_vector(model).size
    good = Gradient(np.full(size, 0.01, np.float32), 10, [20.0], [20], {"policy_loss": 0.5})
    bad = Gradient(np.full(size, np.nan, np.float32), 10, [], [], {"policy_loss": float("nan")})
    before = params_to_vector(model)
    outcome = part.received(4, A3CResult(3, [good, bad, good]))
    assert outcome.send == [4]  # straight back out, with the weights these gradients made
    assert [(m.rank, m.count, m.nonfinite) for m in outcome.messages] == [(4, 1, 0), (4, 0, 1), (4, 1, 0)]
    assert outcome.messages[0].returns == [20.0] and outcome.messages[0].sums["lr_scale"] == 1.0
    assert part.learner.version == 7 and not np.array_equal(before, params_to_vector(model))
    assert part.metrics() == {"policy_lag": pytest.approx((2 + 3) / 2)}  # the skipped one measured none
    assert part.after_drain().messages == [] and part.metrics() == {"policy_lag": None}


# ----- layers -----


def test_no_engine_imports_the_run_layer():
    """Engines are plumbing below the run: RunFailed, which the Ray engine raises for a lost head
    node, lives in a3c.errors, not in the run's modules."""
    from test_code_structure import import_graph, reachable

    graph = import_graph()
    run_layer = {"a3c.training", "a3c.monitor", "a3c.message_handling", "a3c.rundir", "a3c.stats", "a3c.sinks"}
    assert run_layer <= set(graph)  # the names are the run's modules
    assert "a3c.errors" in reachable(graph, "a3c.engines.ray.health")  # the graph sees the engines' imports
    for engine in sorted(m for m in graph if m.startswith("a3c.engines")):
        assert reachable(graph, engine) & run_layer == set(), engine
