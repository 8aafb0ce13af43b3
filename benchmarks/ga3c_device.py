"""GA3C with its learner on the GPU against the same run on the CPU, side by side on one machine.

    python benchmarks/ga3c_device.py --seconds 30

For each case (an env and a number of agents, fixed or left to the dynamic adjuster), the
same `a3c train ENV --algo ga3c` command runs with `--device cpu` and with `--device cuda`,
the device order alternating from case to case so drift on the machine falls on both. Each
run trains for `--seconds` with no target and reports, after WARMUP_S of training:
env steps/s, predictions/s (PPS) and training samples/s (TPS) as the engine logs them, the
mean predict batch, the policy lag, the agent/predictor/trainer counts it ended on, and the
GPU's utilization (nvidia-smi, sampled twice a second, during --device cuda runs).
`--learn` adds, per device, the default command to its preset's target (CartPole-v1 475)
and recurrent GA3C on a3c/MaskedCartPole-v1, to show the learner learns on either device.

Results: results/ga3c-device-*.json and a section appended to results/ga3c-device.md with the
exact command, the CPU, the GPU and the versions.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from pixels import WARMUP_S, steady_rate  # noqa: E402  (rates after 10 s: start-up counts for neither device)
from run import cpu_model  # noqa: E402
from systems import REPO, child_env  # noqa: E402

OUT = HERE / "results"
QUIET = ["--set", "progress=false", "--set", "tensorboard=false", "--set", "log_interval_s=1"]


class GpuSampler:
    """nvidia-smi's utilization.gpu every 500 ms while a run goes on (None where there is no
    nvidia-smi, or when sampling is off: a --device cpu run)."""

    def __init__(self, log: Path, sample: bool):
        self.log, self.sample = log, sample
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> GpuSampler:
        if not self.sample:
            return self
        try:
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "500"],
                stdout=open(self.log, "w"),
                stderr=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            self.proc = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()

    def median_after(self, seconds: float) -> float | None:
        if self.proc is None:
            return None
        values = [float(v) for v in self.log.read_text().split() if v.replace(".", "", 1).isdigit()]
        late = values[int(seconds * 2) :] or values  # two samples a second
        return statistics.median(late) if late else None


def train(env_id: str, device: str, agents: int | None, seconds: float, run_dir: Path, target: bool) -> dict[str, Any]:
    """One `a3c train ENV --algo ga3c` run: with `agents`, that many and no dynamic adjustment."""
    no_target = [] if target else ["--set", "target_return=off"]
    fixed = [] if agents is None else ["--workers", str(agents), "--set", "dynamic_adjust=false"]
    cmd = [
        sys.executable,
        "-m",
        "a3c",
        "train",
        env_id,
        "--algo",
        "ga3c",
        "--device",
        device,
        "--seed",
        "0",
        "--time-limit",
        str(seconds),
        "--run-dir",
        str(run_dir),
        *QUIET,
        *no_target,
        *fixed,
    ]
    started = time.time()
    with open(f"{run_dir}.log", "w") as log:
        rc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(), cwd=REPO, timeout=seconds + 180
        ).returncode
    record: dict[str, Any] = dict(
        env_id=env_id,
        device=device,
        fixed_agents=agents,
        rc=rc,
        process_wall_s=round(time.time() - started, 1),
        command="a3c train " + " ".join(cmd[4:]).replace(str(run_dir), "RUN"),
    )
    summary_path = run_dir / "summary.json"
    if rc != 0 or not summary_path.exists():
        record["error"] = Path(f"{run_dir}.log").read_text()[-2000:]
        return record
    summary = json.loads(summary_path.read_text())
    rows = list(csv.DictReader((run_dir / "metrics.csv").read_text().splitlines()))
    late = [r for r in rows if float(r["wall_s"]) >= WARMUP_S] or rows

    def median(column: str) -> float | None:
        values = [float(r[column]) for r in late if r.get(column) not in (None, "")]
        return round(statistics.median(values), 2) if values else None

    rate = steady_rate([(float(r["wall_s"]), int(r["env_steps"])) for r in rows])
    last = rows[-1]
    record.update(
        steps_per_s=None if rate is None else round(rate, 1),
        pps=median("pps"),
        tps=median("tps"),
        predict_batch_mean=median("predict_batch_mean"),
        policy_lag=median("policy_lag"),
        agents=int(last["agents"]),
        predictors=int(last["predictors"]),
        trainers=int(last["trainers"]),
        mean_return_100=summary["mean_return_100"],
        env_steps=summary["env_steps"],
        stop_reason=summary["stop_reason"],
        time_to_target_s=summary["time_to_target_s"],
        steps_to_target=summary["steps_to_target"],
        torch=summary["versions"]["torch"],
    )
    return record


def machine() -> dict[str, Any]:
    import torch

    return dict(
        cpu=cpu_model(),
        cores=os.cpu_count(),
        python=platform.python_version(),
        torch=torch.__version__,
        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    )


def cases(args: argparse.Namespace) -> list[tuple[str, int | None]]:
    """(env, fixed agent count): each env on its default command (None: dynamic adjustment from
    the preset's counts) and with each fixed agent count of --agents."""
    return [(env_id, agents) for env_id in args.envs for agents in [None, *args.agents]]


def report(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"## {meta['stamp']}",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores; GPU: {meta['machine']['gpu']}; "
        f"Python {meta['machine']['python']}, torch {meta['machine']['torch']}. {meta['note']}",
        "",
        f"Throughput: each run {meta['seconds']:.0f} s of training, no target; rates after {WARMUP_S:.0f} s "
        "(medians of the 1 s rows of metrics.csv; env steps/s from the first and last of them). "
        "Device order alternated from case to case.",
        "",
        "| env | agents | device | env steps/s | x cpu | PPS | TPS | predict batch | policy lag "
        "| agents/predictors/trainers at the end | GPU util % |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    throughput = [r for r in records if r["kind"] == "throughput"]
    for r in throughput:
        agents = "adjusted (default)" if r["fixed_agents"] is None else r["fixed_agents"]
        if "error" in r:
            lines.append(f"| {r['env_id']} | {agents} | {r['device']} | failed (rc {r['rc']}) | | | | | | | |")
            continue
        cpu = next(
            (
                c
                for c in throughput
                if c["env_id"] == r["env_id"]
                and c["fixed_agents"] == r["fixed_agents"]
                and c["device"] == "cpu"
                and c.get("steps_per_s")
            ),
            None,
        )
        ratio = f"{r['steps_per_s'] / cpu['steps_per_s']:.2f}" if cpu and r.get("steps_per_s") else "-"
        util = "-" if r.get("gpu_util") is None else f"{r['gpu_util']:.0f}"
        lines.append(
            f"| {r['env_id']} | {agents} | {r['device']} | {r['steps_per_s']:,.0f} | {ratio} | "
            f"{r['pps']:,.0f} | {r['tps']:,.0f} | {r['predict_batch_mean']} | {r['policy_lag']} | "
            f"{r['agents']}/{r['predictors']}/{r['trainers']} | {util} |"
        )
    learn = [r for r in records if r["kind"] == "learn"]
    if learn:
        lines += [
            "",
            "Learning on each device (default command with its preset's target, seed 0):",
            "",
            "| env | device | stop | time to target, s | steps to target | mean return (last 100) |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in learn:
            if "error" in r:
                lines.append(f"| {r['env_id']} | {r['device']} | failed (rc {r['rc']}) | | | |")
                continue
            ttt = "-" if r["time_to_target_s"] is None else f"{r['time_to_target_s']:.1f}"
            stt = "-" if r["steps_to_target"] is None else f"{r['steps_to_target']:,}"
            lines.append(
                f"| {r['env_id']} | {r['device']} | {r['stop_reason']} | {ttt} | {stt} | {r['mean_return_100']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "ALE/Pong-v5"])
    parser.add_argument("--agents", nargs="*", type=int, default=[16], help="fixed agent counts besides the default")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--learn", action="store_true", help="also train to the target on each device")
    parser.add_argument("--learn-cap", type=float, default=90.0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--note", default="")
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = args.out / f"ga3c-device-{stamp}"
    work.mkdir(parents=True, exist_ok=True)
    meta = dict(
        stamp=stamp,
        seconds=args.seconds,
        note=args.note,
        machine=machine(),
        command="python benchmarks/ga3c_device.py " + " ".join(sys.argv[1:]),
    )
    print(json.dumps(meta), flush=True)
    records: list[dict[str, Any]] = []
    for i, (env_id, agents) in enumerate(cases(args)):
        for device in ("cpu", "cuda") if i % 2 == 0 else ("cuda", "cpu"):
            name = f"{env_id.replace('/', '_')}-{device}-{'default' if agents is None else agents}"
            with GpuSampler(work / f"{name}.gpu", sample=device == "cuda") as gpu:
                record = train(env_id, device, agents, args.seconds, work / name, target=False)
            record.update(kind="throughput", gpu_util=gpu.median_after(WARMUP_S))
            records.append(record)
            print(json.dumps({k: v for k, v in record.items() if k != "error"}), flush=True)
    if args.learn:
        for env_id in ("CartPole-v1", "a3c/MaskedCartPole-v1"):
            for device in ("cpu", "cuda"):
                name = f"learn-{env_id.replace('/', '_')}-{device}"
                record = train(env_id, device, None, args.learn_cap, work / name, target=True)
                record.update(kind="learn")
                records.append(record)
                print(json.dumps({k: v for k, v in record.items() if k != "error"}), flush=True)
    (args.out / f"ga3c-device-{stamp}.json").write_text(json.dumps(dict(meta=meta, records=records), indent=1))
    section = report(records, meta)
    with open(args.out / "ga3c-device.md", "a") as md:
        md.write("\n" + section)
    print(section)


if __name__ == "__main__":
    main()
