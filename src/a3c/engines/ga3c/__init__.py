"""The GA3C engine (Babaeizadeh et al., ICLR 2017), one module per role as in NVlabs GA3C:

engine.py        GA3CEngine: starts, resizes, supervises and stops everything (NVlabs Server)
agent.py         agent processes that only step environments (ProcessAgent)
predictor.py     threads that batch observations into one forward pass (ThreadPredictor)
trainer.py       threads that batch rollout segments into one update (ThreadTrainer)
adjust.py        the search over agent/predictor/trainer counts (ThreadDynamicAdjustment)
buffers.py       the shared-memory mailboxes and segment slots between agents and learner
shared_model.py  the learner's network, shared by predictors and trainers under one lock
stats.py         running totals behind metrics.csv and the adjuster's training rate
"""

from a3c.engines.ga3c.engine import GA3CEngine

__all__ = ["GA3CEngine"]
