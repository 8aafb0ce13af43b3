"""Joining or starting a Ray cluster for a run, and what the user sees when that fails.

No `--ray-address` (and no RAY_ADDRESS): a new local Ray on this machine, on 127.0.0.1 only,
without dashboard, token auth or usage reporting. `auto` or `HOST:PORT` join an existing
cluster as its operator set it up (we set nothing for it). We shut down only a Ray we started.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from a3c.errors import UserError

PIP_HINT = "pip install 'a3c[ray]'"

# For a Ray we start: nodes advertise 127.0.0.1 rather than the NIC's address; no token file
# in ~/.ray (Ray 2.60 turns token auth on for a new local instance otherwise); no telemetry.
LOCAL_RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def import_ray():
    """The ray module, or exit 2 naming the pip command."""
    try:
        import ray
    except ImportError:
        raise UserError(f"--backend ray needs Ray, which is not installed. Install it with: {PIP_HINT}") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds where Ray would retry for minutes: a HOST:PORT where nothing listens."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise UserError(
            f"could not join the Ray cluster at ray_address '{address}': nothing answers there "
            f"({exc.strerror or exc}). Check the head node's address and port (`ray status` on the "
            "head), or leave --ray-address unset for a local Ray on this machine."
        ) from None


def connect(cfg, cpus_wanted: int) -> tuple[Any, bool]:
    """(ray, started_by_us). Joins the cluster at cfg.ray_address (or RAY_ADDRESS), or starts a
    local one with at least `cpus_wanted` CPUs so every env runner can be placed."""
    ray = import_ray()  # cfg.ray_address is a well-formed address: Config checked it
    if ray.is_initialized():  # the caller's own ray.init() (Python API): use it, leave it running
        return ray, False
    address = cfg.ray_address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address is None or address == "local":
            for key, value in LOCAL_RAY_ENV.items():
                os.environ.setdefault(key, value)
            ray.init(
                address="local",
                num_cpus=max(cpus_wanted, os.cpu_count() or 1),
                include_dashboard=False,
                logging_level="WARNING",
                configure_logging=True,
                log_to_driver=True,
            )
        else:
            if address not in ("auto",) and not address.startswith("ray://"):
                _check_reachable(address)
            ray.init(address=address, logging_level="WARNING", log_to_driver=True)
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"could not join the Ray cluster at ray_address '{address}': {first}. Start one with "
            '`ray start --head` (see the README, "Running on a Ray cluster"), give its HOST:PORT, '
            "or leave --ray-address unset for a local Ray on this machine."
        ) from None
    return ray, address is None or address == "local"
