"""What crosses the network per Ray update, measured: the bytes of the weights a runner is sent
and of the reply it sends back (an A3C gradient or a GA3C segment), serialized as Ray serializes
them (pickle protocol 5; numpy arrays travel as out-of-band buffers, counted here).

    python benchmarks/ray_bytes.py            # writes benchmarks/results/ray-bytes.md

Each case builds an EnvRunner directly (no cluster: the payloads do not depend on one) with the
env's preset for the algorithm, runs a few jobs and measures the last.
"""

from __future__ import annotations

import pickle
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "ray-bytes.md"
CASES = [("CartPole-v1", "a3c"), ("CartPole-v1", "ga3c"), ("ALE/Pong-v5", "a3c"), ("ALE/Pong-v5", "ga3c")]


def serialized_bytes(value) -> int:
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    return len(head) + sum(memoryview(b).nbytes for b in buffers)


def measure(env_id: str, algo: str) -> dict:
    from a3c.config import Config
    from a3c.engines.ray.engine import INLINE_BYTES, resolve_config
    from a3c.engines.ray.runner import EnvRunner
    from a3c.engines.weights import params_to_vector

    cfg = resolve_config(Config.for_env(env_id, algo=algo, backend="ray"))
    runner = EnvRunner(cfg)
    runner.where = lambda: {}  # setup's reply names the node; no Ray here
    runner.setup(0, 0)
    weights = params_to_vector(runner.local)
    job = runner.a3c_step if algo == "a3c" else runner.ga3c_segment
    for _ in range(3):
        reply = job(0, weights)
    runner.close()
    down, up = serialized_bytes(weights), serialized_bytes(reply)
    steps = sum(g.env_steps for g in reply.gradients) if algo == "a3c" else reply.env_steps
    return dict(env_id=env_id, algo=algo, params=sum(p.numel() for p in runner.local.parameters()),
                envs=cfg.envs_per_worker, t_max=cfg.t_max, steps=steps, down=down, up=up,
                inline=down <= INLINE_BYTES)


def kb(n: int) -> str:
    return f"{n / 1024:,.1f} KB" if n < 1024**2 else f"{n / 1024**2:,.2f} MB"


def main() -> None:
    rows = [measure(env_id, algo) for env_id, algo in CASES]
    lines = [
        "# Bytes per Ray update, measured",
        "",
        "    python benchmarks/ray_bytes.py",
        "",
        "Each env's preset for the algorithm; one job of one EnvRunner (`envs` envs x `t_max` steps).",
        "Down: the weights vector the runner is sent (parameters, plus normalizer statistics where the",
        "preset normalizes); inline: small enough to travel with the call instead of through the object",
        "store. Up: the runner's reply (A3C: the gradient and episode stats; GA3C: the segment, frames",
        "as uint8, with its stats).",
        "",
        "| env | algo | parameters | envs x t_max | down (weights) | up (reply) | per env step (down + up) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        per_step = (r["down"] + r["up"]) / r["steps"]
        lines.append(
            f"| {r['env_id']} | {r['algo']} | {r['params']:,} | {r['envs']} x {r['t_max']} | {kb(r['down'])}"
            f"{' (inline)' if r['inline'] else ''} | {kb(r['up'])} | {kb(int(per_step))} |"
        )
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
