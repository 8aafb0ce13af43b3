"""Recurrent A3C, side by side: its speed against feed-forward, what it learns on the masked
(partially observed) toy envs, and its time to target against sb3-contrib's RecurrentPPO.

    python benchmarks/recurrent.py                       # all three phases, 3 seeds
    python benchmarks/recurrent.py --phases throughput   # one phase
    python benchmarks/recurrent.py --report-only         # rebuild recurrent.md from recurrent.json

Phases (each alternates its systems seed-major, the order rotated by one per seed):
- throughput: CartPole-v1, its preset, `--set recurrent=false` vs `true`, a fixed number of env
  steps with no target; median env steps/s of each and their ratio.
- masked: every a3c/Masked* env, its preset (recurrent=true) vs the same preset with
  recurrent=false, to the env's target or the cap; seeds solved, median time, best mean return.
- rppo: a3c/MaskedCartPole-v1 to mean return 475: a3c's preset vs RecurrentPPO with
  rl-baselines3-zoo's CartPoleNoVel-v1 settings (hyperparams/ppo_lstm.yml), one process and
  one torch thread each.

Every training run holds `--lock` (flock) while it runs, so no two benchmarks share the CPU;
each is its own subprocess with OMP_NUM_THREADS=1 (systems.child_env). Results go to
benchmarks/results/recurrent.json and recurrent.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from systems import LOCK_WAIT_S, _record, _workdir, _write, measure, run_a3c, solved_callback  # noqa: E402
from zoo_hyperparams import schedule  # noqa: E402

MASKED_TARGETS = {"a3c/MaskedCartPole-v1": 475.0, "a3c/MaskedAcrobot-v1": -100.0, "a3c/MaskedPendulum-v1": -300.0}
# rl-baselines3-zoo hyperparams/ppo_lstm.yml, CartPoleNoVel-v1 (CartPole without velocities, as
# a3c/MaskedCartPole-v1), commit 038ab1617a486b7d918be8056697bf34caeefbcd. Policy: MlpLstmPolicy with
# sb3-contrib's defaults (LSTM 256, a critic LSTM of its own). "lin_X": X annealed to 0 over n_timesteps.
RPPO_ZOO = dict(n_envs=8, n_timesteps=1e5, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                ent_coef=0.0, learning_rate="lin_0.001", clip_range="lin_0.2")


def machine_load() -> dict[str, Any]:
    """What else ran: load averages and the busiest processes, recorded beside the figures."""
    top = subprocess.run(["ps", "-eo", "pcpu,etime,comm,args", "--sort=-pcpu"], capture_output=True, text=True)
    return dict(at=time.strftime("%H:%M:%S"), loadavg=os.getloadavg(),
                top=[line[:160] for line in top.stdout.splitlines()[1:6]])


# ----- RecurrentPPO: a child process, read back through its JSON -----
def run_rppo(env_id: str, seed: int, cap_s: float, target: float, out_dir: Path, lock: Optional[str]) -> dict:
    work = _workdir(out_dir, "rppo", env_id, seed)
    child_json = work / "child.json"
    cmd = [sys.executable, str(HERE / "recurrent.py"), "rppo-child", env_id, str(seed), str(cap_s), str(target),
           str(child_json)]
    run = measure((["flock", lock] if lock else []) + cmd, work / "log.txt",
                  hard_limit_s=cap_s + 120 + (LOCK_WAIT_S if lock else 0))
    result = json.loads(child_json.read_text()) if child_json.exists() else {}
    series = result.pop("series", [])
    settings = result.pop("settings", {})
    return _write(_record("rppo", env_id, seed, cap_s, target, run, result, series, settings), out_dir)


def rppo_child(env_id: str, seed: int, cap_s: float, target: float, out_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    from a3c import toy_envs

    toy_envs.register()

    hp = dict(RPPO_ZOO)
    n_envs, n_timesteps = hp.pop("n_envs"), hp.pop("n_timesteps")
    hp["learning_rate"] = schedule(hp["learning_rate"])
    hp["clip_range"] = schedule(hp["clip_range"])
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed, vec_env_cls=DummyVecEnv)
    model = RecurrentPPO("MlpLstmPolicy", env, seed=seed, device="cpu", verbose=0, **hp)
    started_at, started = time.time(), time.monotonic()
    callback = solved_callback(started, target, cap_s)
    model.learn(total_timesteps=int(n_timesteps), callback=callback)
    wall = time.monotonic() - started
    out_path.write_text(json.dumps(dict(
        stop_reason=callback.stop_reason, time_to_target_s=callback.time_to_target,
        steps_to_target=callback.steps_to_target, env_steps=model.num_timesteps, train_wall_s=wall,
        train_started_at=started_at, mean_return_100=callback.mean(), series=callback.series,
        settings=dict(source="rl-baselines3-zoo hyperparams/ppo_lstm.yml CartPoleNoVel-v1 (commit 038ab16)",
                      hyperparams=RPPO_ZOO, policy="MlpLstmPolicy (sb3-contrib defaults)",
                      vec_env="DummyVecEnv (one process)"),
    )))


# ----- phases -----
def best_return(out_dir: Path, record: dict) -> Optional[float]:
    summary = out_dir / "work" / f"{record['env_id']}_{record['system']}_seed{record['seed']}" / "run" / "summary.json"
    return json.loads(summary.read_text()).get("best_mean_return_100") if summary.exists() else None


def rotate(items: list, seed: int) -> list:
    k = seed % len(items)
    return items[k:] + items[:k]


def phase_throughput(args, out_dir: Path) -> list[dict]:
    records = []
    for seed in range(args.seeds):
        for recurrent in rotate([False, True], seed):
            system = "a3c-lstm" if recurrent else "a3c-ff"
            rec = run_a3c("CartPole-v1", seed, args.cap_s, None, out_dir, fixed_steps=args.throughput_steps,
                          system=system, sets=(f"recurrent={str(recurrent).lower()}", *args.throughput_set),
                          lock=args.lock)
            print(f"throughput seed {seed} {system}: {rec['steps_per_second']:.0f} steps/s", flush=True)
            records.append(dict(rec, phase="throughput"))
    return records


def phase_masked(args, out_dir: Path) -> list[dict]:
    records = []
    for seed in range(args.seeds):
        for env_id in args.masked_envs:
            for recurrent in rotate([True, False], seed):
                system = "a3c-lstm" if recurrent else "a3c-ff"
                rec = run_a3c(env_id, seed, args.masked_cap_s, MASKED_TARGETS[env_id], out_dir, system=system,
                              sets=(f"recurrent={str(recurrent).lower()}",), lock=args.lock)
                rec = dict(rec, phase="masked", best_mean_return_100=best_return(out_dir, rec))
                print(f"masked {env_id} seed {seed} {system}: solved={rec['solved']} "
                      f"t={rec['time_to_target_s']} best={rec['best_mean_return_100']}", flush=True)
                records.append(rec)
    return records


def phase_rppo(args, out_dir: Path) -> list[dict]:
    env_id, target, records = "a3c/MaskedCartPole-v1", 475.0, []
    for seed in range(args.seeds):
        for system in rotate(["a3c-lstm", "rppo"], seed):
            if system == "rppo":
                rec = run_rppo(env_id, seed, args.rppo_cap_s, target, out_dir, args.lock)
            else:
                rec = run_a3c(env_id, seed, args.rppo_cap_s, target, out_dir, system="a3c-lstm-vs-rppo",
                              lock=args.lock)
                rec = dict(rec, best_mean_return_100=best_return(out_dir, rec))
            print(f"rppo {rec['system']} seed {seed}: solved={rec['solved']} t={rec['time_to_target_s']} "
                  f"steps={rec['steps_to_target']} final={rec['mean_return_100']}", flush=True)
            records.append(dict(rec, phase="rppo"))
    return records


# ----- report -----
def _median(values: list) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(value, digits=1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(data: dict) -> str:
    records, lines = data["records"], ["# Recurrent A3C: speed, masked tasks, RecurrentPPO", ""]
    lines += [f"Measured {data['started']} – {data['finished']} with `{data['command']}` "
              f"(commit {data['commit']}), {data['cpus']} CPUs. Each run held `{data['lock']}` (flock) "
              "while it trained, one torch thread per process.", ""]
    lines += [f"- {note}" for note in data.get("notes", [])] + ([""] if data.get("notes") else [])
    lines += ["Machine load (other engineers' jobs shared the 2 cores):", ""]
    lines += [f"- {m['at']}: load average {', '.join(f'{x:.2f}' for x in m['loadavg'])}" for m in data["load"]]
    lines.append("")
    by = lambda phase, system=None, env=None: [r for r in records if r["phase"] == phase  # noqa: E731
                                               and (system is None or r["system"] == system)
                                               and (env is None or r["env_id"] == env)]
    tp = by("throughput")
    if tp:
        ff = [r["steps_per_second"] for r in by("throughput", "a3c-ff")]
        lstm = [r["steps_per_second"] for r in by("throughput", "a3c-lstm")]
        lines += ["## Throughput: CartPole-v1, its preset, recurrent=false vs true", "",
                  f"{tp[0]['fixed_steps']:,} env steps per run, no target, 2 workers; per-seed env steps/s "
                  "(train-call time, from summary.json):", "",
                  "| system | per seed | median |", "| --- | --- | --- |",
                  f"| feed-forward | {', '.join(f'{v:,.0f}' for v in ff)} | {_fmt(_median(ff), 0)} |",
                  f"| LSTM | {', '.join(f'{v:,.0f}' for v in lstm)} | {_fmt(_median(lstm), 0)} |", ""]
        if ff and lstm:
            # Same seed, run back to back: the pair saw the most similar machine load.
            pairs = [a / b for a, b in zip(lstm, ff)]
            lines += [f"LSTM / feed-forward, ratio of medians: **{_median(lstm) / _median(ff):.2f}**; per seed "
                      f"(the two runs of a seed ran back to back): {', '.join(f'{x:.2f}' for x in pairs)}, "
                      f"median **{_median(pairs):.2f}**", ""]
    ms = by("masked")
    if ms:
        lines += ["## Masked (partially observed) tasks: preset with recurrent=true vs false", "",
                  "| env | target | system | solved | median time to target (s) | median steps to target | "
                  "best mean return, per seed |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for env_id in dict.fromkeys(r["env_id"] for r in ms):
            for system in ("a3c-lstm", "a3c-ff"):
                rs = by("masked", system, env_id)
                if not rs:
                    continue
                lines.append(
                    f"| {env_id} | {rs[0]['target_return']} | {system} | {sum(r['solved'] for r in rs)}/{len(rs)} | "
                    f"{_fmt(_median([r['time_to_target_s'] for r in rs]))} | "
                    f"{_fmt(_median([r['steps_to_target'] for r in rs]), 0)} | "
                    f"{', '.join(_fmt(r['best_mean_return_100']) for r in rs)} |")
        lines += ["", f"Cap {ms[0]['cap_s']:.0f} s of training per run; an unsolved run has no time."
                  " Best mean return: the best mean of 100 consecutive training episodes.", ""]
    rp = by("rppo")
    if rp:
        lines += ["## Time to mean return 475 on a3c/MaskedCartPole-v1: a3c LSTM vs sb3-contrib RecurrentPPO", "",
                  "| system | solved | time to target per seed (s) | median (s) | median steps | "
                  "median process time incl. start-up (s) |", "| --- | --- | --- | --- | --- | --- |"]
        for system in dict.fromkeys(r["system"] for r in rp):
            rs = [r for r in rp if r["system"] == system]
            lines.append(
                f"| {system} | {sum(r['solved'] for r in rs)}/{len(rs)} | "
                f"{', '.join(_fmt(r['time_to_target_s']) for r in rs)} | "
                f"{_fmt(_median([r['time_to_target_s'] for r in rs]))} | "
                f"{_fmt(_median([r['steps_to_target'] for r in rs]), 0)} | "
                f"{_fmt(_median([r['time_to_target_process_s'] for r in rs]))} |")
        lines += ["", "Process time counts from the launch of the subprocess, so it includes the wait for the "
                  "benchmark lock (another run holding it), not only start-up; compare train-call times."]
        settings = next((r["settings"] for r in rp if r["system"] == "rppo"), {})
        lines += ["", f"RecurrentPPO: {settings.get('source', '')}: `{json.dumps(settings.get('hyperparams', {}))}`, "
                  f"{settings.get('policy', '')}, {settings.get('vec_env', '')}. a3c: `a3c train "
                  "a3c/MaskedCartPole-v1 --workers 2` (its preset). Cap "
                  f"{rp[0]['cap_s']:.0f} s; an unsolved run counts as the cap in no median (it has no time).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", nargs="+", default=["throughput", "masked", "rppo"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--throughput-steps", type=int, default=300_000)
    parser.add_argument("--throughput-set", nargs="*", default=[], help="extra key=value for both throughput runs")
    parser.add_argument("--masked-envs", nargs="+", default=list(MASKED_TARGETS))
    parser.add_argument("--cap-s", type=float, default=300.0, help="throughput runs' time limit")
    parser.add_argument("--masked-cap-s", type=float, default=90.0)
    parser.add_argument("--rppo-cap-s", type=float, default=300.0)
    parser.add_argument("--lock", default="/tmp/a3c-bench.lock")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--note", action="append", default=[], help="a line for recurrent.md (repeatable)")
    args = parser.parse_args()
    out_json, out_md = args.out / "recurrent.json", args.out / "recurrent.md"
    if args.report_only:
        data = json.loads(out_json.read_text())
        if args.note:
            data["notes"] = data.get("notes", []) + args.note
            out_json.write_text(json.dumps(data, indent=1) + "\n")
        out_md.write_text(markdown(data))
        return
    work_dir = args.out / "recurrent-work"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout
    data = dict(started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), command=" ".join(sys.argv),
                commit=commit.strip(), cpus=os.cpu_count(), lock=args.lock, load=[machine_load()], records=[])
    if out_json.exists():  # phases run separately accumulate in one file; a phase run again replaces its records
        old = json.loads(out_json.read_text())
        data["records"] = [r for r in old["records"] if r["phase"] not in args.phases]
        data["load"] = old.get("load", []) + data["load"]
    phases = dict(throughput=phase_throughput, masked=phase_masked, rppo=phase_rppo)
    for name in args.phases:
        data["records"] += phases[name](args, work_dir)
        data["load"].append(machine_load())
    data["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    for r in data["records"]:
        r.pop("series", None)
    args.out.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(data, indent=1) + "\n")
    out_md.write_text(markdown(data))
    print(out_md.read_text())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "rppo-child":
        _, _, env_id, seed, cap_s, target, out_path = sys.argv
        rppo_child(env_id, int(seed), float(cap_s), float(target), Path(out_path))
    else:
        main()
