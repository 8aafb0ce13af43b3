"""The Ray backend (`--backend ray`): EnvRunner actors step envs on any node of a Ray cluster;
the learner stays in the `a3c train` process. See engine.py for both algorithms."""

from a3c.engines.ray.engine import RayA3CEngine, RayGA3CEngine

__all__ = ["RayA3CEngine", "RayGA3CEngine"]
