"""One factory for every engine, from one parts object."""

from __future__ import annotations

from a3c.engines.base import Engine, EngineParts


def make_engine(parts: EngineParts) -> Engine:
    """The engine parts.cfg asks for: Ray, the deterministic serial engines, GA3C or Hogwild A3C.
    Imported here, on demand: a local run never imports Ray."""
    cfg = parts.cfg
    if cfg.backend == "ray":
        from a3c.engines.ray import RayA3CEngine, RayGA3CEngine

        return RayGA3CEngine(parts) if cfg.algo == "ga3c" else RayA3CEngine(parts)
    if cfg.deterministic:
        from a3c.engines.serial import SerialA3CEngine, SerialGA3CEngine

        return SerialGA3CEngine(parts) if cfg.algo == "ga3c" else SerialA3CEngine(parts)
    if cfg.algo == "ga3c":
        from a3c.engines.ga3c import GA3CEngine

        return GA3CEngine(parts)
    from a3c.engines.hogwild import HogwildEngine

    return HogwildEngine(parts)
