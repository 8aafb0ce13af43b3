"""GA3C's segment slots and trainers, without processes or threads: the learner's slot book
loses no slot whenever an agent dies, a trainer takes the backlog up to max_train_batch, and a
replacement trainer takes the normalizer row of the one that died."""

from types import SimpleNamespace

import pytest
import torch

import a3c
from a3c.distributions import Categorical
from a3c.engines.ga3c.buffers import FREE, FULL, Mailboxes, SegmentPool
from a3c.normalization import ObsNormalizer, Statistics, StatisticsWriter


def test_no_slot_is_lost_whenever_an_agent_dies():
    """The learner's slot book: an agent killed with a slot in hand, one handed over for next,
    or between filling one and publishing it, leaves every slot free or full, never stranded."""
    mail = Mailboxes.allocate(3, 2, (4,), torch.float32, Categorical(2))
    pool = SegmentPool.allocate(5, 3, 2, (4,), torch.float32, Categorical(2), ctx=None)
    pool.mail = mail
    for rank in range(3):
        pool.offer(rank)
    assert [int(s) for s in mail.next_slot] == [0, 1, 2]
    # Agent 0 takes its slot (next_slot back to -1) and dies before publishing: reclaimed.
    mail.next_slot[0] = -1
    pool.reclaim(0)
    # Agent 1 takes slot 1, publishes it (it gets slot 3 next), then dies holding slot 3.
    mail.next_slot[1] = -1
    pool.published(1, 1)
    assert int(mail.next_slot[1]) == 3
    pool.reclaim(1)
    # A stale publish of a slot the agent no longer owns is ignored.
    pool.published(1, 3)
    assert pool.full.qsize() == 1
    batch, versions = pool.take([pool.full.get()])
    assert pool.count(FULL) == 0 and pool.count(FREE) == 4  # slot 2 is agent 2's, the rest free
    # Slots run out: an agent that asks then waits, and gets the next slot a trainer releases.
    small = SegmentPool.allocate(2, 3, 2, (4,), torch.float32, Categorical(2), ctx=None)
    small.mail = Mailboxes.allocate(2, 2, (4,), torch.float32, Categorical(2))
    small.offer(0)
    small.offer(1)
    small.mail.next_slot[0] = -1  # agent 0 takes slot 0, fills it and publishes it
    small.published(0, 0)
    assert int(small.mail.next_slot[0]) == -1  # nothing free: it waits
    small.take([small.full.get()])
    assert int(small.mail.next_slot[0]) == 0  # served as soon as the slot is released


@pytest.mark.parametrize("cap, taken", [(0, [0, 1, 2, 3, 4]), (2, [0, 1]), (1, [0])])
def test_a_trainer_takes_the_backlog_up_to_max_train_batch(cap, taken):
    import queue as queue_lib
    from types import SimpleNamespace

    from a3c.engines.ga3c.trainer import Trainer

    pool = SimpleNamespace(full=queue_lib.Queue())
    for slot in range(5):
        pool.full.put(slot)
    cfg = a3c.Config(train_batch=1, max_train_batch=cap)
    trainer = Trainer(
        0, cfg, pool, shared=None, dist=None, stats=None, device=torch.device("cpu"), on_crash=None,
        statistics=StatisticsWriter(),
    )
    assert trainer.gather() == taken
    assert pool.full.qsize() == 5 - len(taken)  # the rest wait for the next update, in order
    if len(taken) < 5:
        assert trainer.gather()[0] == len(taken)


def test_a_replacement_trainer_takes_the_row_of_the_one_that_died(monkeypatch):
    from a3c.engines.ga3c import engine as ga3c_engine

    class QuietTrainer:
        def __init__(self, index, *args):
            self.index, self.statistics = index, args[-1]

        def start(self):
            pass

    monkeypatch.setattr(ga3c_engine, "Trainer", QuietTrainer)
    engine = ga3c_engine.GA3CEngine.__new__(ga3c_engine.GA3CEngine)
    engine.cfg = engine.pool = engine.shared = engine.dist = engine.counters = engine.stats = engine.device = None
    engine.statistics = Statistics(SimpleNamespace(obs_norm=ObsNormalizer((2,))), observations={"trainer": 3})
    engine.trainers = []
    for _ in range(3):
        engine._start_trainer()
    died = engine.trainers.pop(1)  # the middle one died
    engine._start_trainer()
    assert sorted(trainer.index for trainer in engine.trainers) == [0, 1, 2]
    assert [trainer.statistics.obs.index for trainer in engine.trainers] == [0, 2, died.statistics.obs.index]
