"""The Ray backend (`--backend ray`): EnvRunner actors step envs on any node of a Ray cluster;
the learner stays in the `a3c train` process.

    engine.py      RayEngine: the runners, their jobs and supervision; RayA3CEngine, RayGA3CEngine
    algorithms.py  what A3C and GA3C each do with the runners' results (the engine's algorithm part)
    runner.py      EnvRunner, the actor that steps envs
    jobs.py        the runners' replies, typed
    health.py      the cluster's health: a lost head node, lost worker nodes
    cluster.py     joining or starting a Ray cluster
"""

from a3c.engines.ray.engine import RayA3CEngine, RayEngine, RayGA3CEngine

__all__ = ["RayA3CEngine", "RayEngine", "RayGA3CEngine"]
