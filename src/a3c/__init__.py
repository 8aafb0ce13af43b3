"""a3c: asynchronous advantage actor-critic (A3C and GA3C) for Gymnasium environments.

Public API: `Config`, `train(config) -> TrainResult`, `load(path) -> Agent`.
"""

from a3c import defaults  # noqa: F401  # Config.for_env's work, kept out of the config.py leaf
from a3c._version import __version__
from a3c.config import Config
from a3c.errors import CheckpointError, ConfigError, UserError


def train(config: Config, resume=None):
    """Train with `config` (see `Config.for_env` for per-env presets); returns a TrainResult.
    `resume=RUN_DIR` continues that run from its newest checkpoint instead (config: the run's
    saved config with your changes, e.g. a larger total_steps).

    Call it under `if __name__ == "__main__":` in a script: worker processes import the
    script again (a3c.guard says so at once when the guard is missing).
    """
    from a3c.guard import check_main_guard, unreadable_main_hidden
    from a3c.training import train as _train

    if not config.deterministic:  # the deterministic engines start no processes
        check_main_guard()
    with unreadable_main_hidden():
        return _train(config, resume=resume)


def load(path, checkpoint: str = "best"):
    """An Agent from a run directory or checkpoint file: `agent.act(obs)` returns an action.
    checkpoint: for a run directory, "best" (the weights of the run's best mean; the latest when it
    has none) or "latest"; `agent.which` says which was loaded."""
    from a3c.agent import Agent

    return Agent.load(path, checkpoint)


__all__ = ["Config", "train", "load", "UserError", "ConfigError", "CheckpointError", "__version__"]
