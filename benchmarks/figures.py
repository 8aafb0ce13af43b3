"""The figures of README.md and docs/ rendered from the data in benchmarks/results.

A page holds a figure as a block:

    <!-- figures:NAME -->
    (whatever this script last rendered)
    <!-- /figures -->

`python benchmarks/figures.py` rewrites every block of README.md, docs/**/*.md and
benchmarks/results/*.md from the results files; `python benchmarks/figures.py --check` changes
nothing and exits 1, naming each page and block that differs from what the data gives (CI runs
it). A block shows only what a results file holds, with the date and machine of the measurement,
and says "history" when the code has changed since in a way that concerns it (CHANGES below).

Reads JSON only (and the stdlib): no torch, no a3c import, nothing trains.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# A block's markers are lines of their own; a page may mention them in its text.
BLOCK = re.compile(r"^(<!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)^(<!-- /figures -->)$", re.S | re.M)

# Changes to the code after which an older measurement of what they touch is history until it is
# measured again: (first day of the new code, scope, what changed). A block names the scopes it
# shows; a measurement dated before the day is flagged. Dates are days: a run on the day itself is
# not flagged (the Pong runs of 2026-12-03 ran on the new Hogwild code before its commit).
CHANGES = [
    ("2026-12-03", "a3c", "Hogwild workers began to take their optimizer steps one at a time (e9dbb0b)"),
    ("2026-12-05", "vector", "target_kl=0.002 became the default for every vector env, both engines (49ef422)"),
    (
        "2026-12-05",
        "vector-continuous",
        "the continuous family's defaults took a floor of -3 under the log std (304ec09)",
    ),
    (
        "2026-12-07",
        "vector-continuous",
        "the continuous family's defaults for A3C took a critic of its own and 64 envs a worker (d831f9d)",
    ),
    (
        "2026-12-07",
        "vector-continuous",
        "the continuous family's defaults for A3C took 10M steps with lr annealed to 0 at them (482346d)",
    ),
    (
        "2026-12-07",
        "vector-continuous",
        "the continuous family's defaults for A3C took 20M steps instead of 10M (d189200)",
    ),
    (
        "2026-12-07",
        "LunarLanderContinuous-v3 a3c",
        "A3C's LunarLanderContinuous-v3 preset took the continuous family's A3C settings over 10M steps (4b73536)",
    ),
    (
        "2026-12-07",
        "LunarLanderContinuous-v3 ga3c",
        "GA3C's LunarLanderContinuous-v3 preset took A3C's settings with one segment an update (fafa45c)",
    ),
    (
        "2026-12-07",
        "vector-continuous",
        "GA3C's LSTM on the continuous family took V-trace with target_kl=0.001 (76d66c0)",
    ),
    (
        "2026-12-07",
        "a3c/MaskedPendulum-v1 ga3c",
        "GA3C's masked-pendulum preset took the continuous family's GA3C LSTM settings (76d66c0)",
    ),
    ("2026-12-08", "minatar a3c", "A3C's MinAtar defaults took the lr annealed to 0 at their 10M steps (bb44fce)"),
]

# Provenance the results files do not hold, taken from the .md written beside them, keyed by file
# and by the first 12 hex digits of the file's SHA-256: a re-measurement that rewrites the file no
# longer matches, and the figure says "not recorded" until this table is brought up to date.
PROVENANCE: dict[str, dict[str, str]] = {
    # pixels.md, section "throughput (ALE/Pong-v5), 20261205-164658": what each system ran.
    "pixels-throughput-20261205-164658.json": {
        "sha": "96be5c6cc363",
        "settings": "A3C and GA3C on Pong's preset (42x42 single frames, the universe torso, an LSTM of 256); "
        "SB3 A2C with rl-zoo3's Atari settings (84x84, 4 frames); the limit: AtariVectorEnv at 84x84, 4 frames",
    },
    # pixels.md, section "minatar (MinAtar/Breakout-v1), 20261203-223312": "each run alone on the
    # 2-core AMD EPYC machine".
    "pixels-minatar-20261203-223312.json": {"sha": "457d2f85edb6", "cpu": "AMD EPYC"},
    # own-env-defaults.md: "2-core AMD EPYC, nothing else running but the runs. 2026-12-03."
    "own-env-defaults/records.json": {"sha": "3cf76d23398b", "date": "2026-12-03", "cpu": "AMD EPYC"},
    # The run directories' summary.json hold no date and no machine; pixels.md's sections on each run
    # give them ("Pong on the default command with Hogwild's optimizer steps one at a time, 2026-12-03",
    # "... A3C seed 2, 2026-12-04", "Pong, GA3C: the universe recipe, 2026-12-03", "... GA3C seed 1,
    # 2026-12-04", "Breakout, A3C on today's code, 2026-12-03", "Breakout, GA3C on today's code,
    # 2026-12-04"), each "alone on the 2-core AMD EPYC machine".
    "pong-runs/universe-serialized-s0/summary.json": {"sha": "d3e59320289d", "date": "2026-12-03", "cpu": "AMD EPYC"},
    "pong-runs/universe-serialized-s1/summary.json": {"sha": "c250f86d547f", "date": "2026-12-03", "cpu": "AMD EPYC"},
    "pong-runs/universe-serialized-s2/summary.json": {"sha": "b6ef6d9edefe", "date": "2026-12-04", "cpu": "AMD EPYC"},
    "pong-runs/ga3c-universe-s0/summary.json": {"sha": "3bc6a4ff108a", "date": "2026-12-03", "cpu": "AMD EPYC"},
    "pong-runs/ga3c-universe-s1/summary.json": {"sha": "c440ae6507eb", "date": "2026-12-04", "cpu": "AMD EPYC"},
    # speed.md, "Pong against the raw limit on its own frames": each run alone on the 2-core Intel Xeon, 2026-12-06.
    "pong-runs/intel-a3c-s0/summary.json": {"sha": "71e8dfbc860e", "date": "2026-12-06", "cpu": "Intel Xeon"},
    "pong-runs/intel-a3c-s1/summary.json": {"sha": "cf86a8872f45", "date": "2026-12-06", "cpu": "Intel Xeon"},
    "pong-runs/intel-a3c-s2/summary.json": {"sha": "fe4cae68d1bb", "date": "2026-12-06", "cpu": "Intel Xeon"},
    # speed.md, "The loss in bfloat16 in training": loss_precision=auto (bfloat16 on this CPU's AMX),
    # each run alone on the same 2-core Intel Xeon, 2026-12-06.
    "pong-runs/intel-a3c-bf16-s0/summary.json": {"sha": "c77f296b8eaa", "date": "2026-12-06", "cpu": "Intel Xeon"},
    "pong-runs/intel-a3c-bf16-s1/summary.json": {"sha": "537295569b2e", "date": "2026-12-06", "cpu": "Intel Xeon"},
    "pong-runs/intel-a3c-bf16-s2/summary.json": {"sha": "870585beeecd", "date": "2026-12-06", "cpu": "Intel Xeon"},
    "breakout-runs/a3c-s0/summary.json": {"sha": "0d4524e4b821", "date": "2026-12-03", "cpu": "AMD EPYC"},
    "breakout-runs/ga3c-s0/summary.json": {"sha": "58003137f6dd", "date": "2026-12-04", "cpu": "AMD EPYC"},
}

NOT_RECORDED = "not recorded"

SYSTEM_NAMES = {
    "a3c": "A3C",
    "ga3c": "GA3C",
    "a3c-lstm": "A3C, `recurrent=true`",
    "ga3c-lstm": "GA3C, `recurrent=true`",
    "sb3-a2c": "SB3 A2C",
    "sb3-ppo": "SB3 PPO",
    "sb3-rppo": "sb3-contrib RecurrentPPO",
    "raw": "random actions (the limit)",
    "raw42": "random actions at 42x42, 1 frame (the Pong preset's limit)",
}


# ----- reading -----
def read_json(rel: str):
    return json.loads((RESULTS / rel).read_text())


def sha12(rel: str) -> str:
    return hashlib.sha256((RESULTS / rel).read_bytes()).hexdigest()[:12]


def provenance(rel: str, key: str) -> str | None:
    """A field for `rel` from PROVENANCE, if the file is still the one the entry was written for."""
    entry = PROVENANCE.get(rel)
    if entry is None or entry["sha"] != sha12(rel):
        return None
    return entry.get(key)


def day(stamp: str) -> str:
    """2026-11-24 from '2026-11-24T10:18:16', '2026-11-24 10:18' or '20261124-101816'."""
    m = re.match(r"(\d{4})-?(\d\d)-?(\d\d)", stamp)
    if not m:
        raise ValueError(f"no date in {stamp!r}")
    return "-".join(m.groups())


def newest(pattern: str) -> str:
    """The newest results file matching pattern (their names end in a timestamp)."""
    found = sorted(p.relative_to(RESULTS).as_posix() for p in RESULTS.glob(pattern))
    if not found:
        raise FileNotFoundError(f"no benchmarks/results/{pattern}")
    return found[-1]


def newest_throughput(keep: Callable[[dict], bool]) -> str:
    """The newest pixels-throughput-*.json whose data `keep` accepts."""
    for path in sorted(RESULTS.glob("pixels-throughput-*.json"), reverse=True):
        if keep(read_json(path.name)):
            return path.name
    raise SystemExit("no benchmarks/results/pixels-throughput-*.json fits this figure")


# ----- formatting -----
def num(value: float | None) -> str:
    """A return or a time as the tables write them: 1,007 and 132.1."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.1f}"


def steps(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value:,.0f}"


def spread(values: list[float]) -> str:
    """median [min, max]."""
    return f"{num(statistics.median(values))} [{num(min(values))}, {num(max(values))}]"


def per_seed(values: list[float]) -> str:
    """median (each seed)."""
    return f"{num(statistics.median(values))} ({', '.join(num(v) for v in values)})"


def command(text: str) -> str:
    """A recorded command without its free-text --note, which the page around it says better."""
    return re.sub(r" --note .*$", "", text).strip()


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Measured:
    """Where a figure's numbers come from: the line printed above its table."""

    source: str
    date: str | None
    machine: str | None
    commit: str | None = None
    seeds: str | None = None
    command: str | None = None

    def line(self, scopes: tuple[str, ...]) -> str:
        parts = [
            f"Measured {self.date or 'on a date ' + NOT_RECORDED} on {self.machine or 'a machine ' + NOT_RECORDED}",
            f"commit {self.commit or NOT_RECORDED}",
        ]
        if self.seeds:
            parts.append(self.seeds)
        text = "*" + "; ".join(parts) + f"; data: `benchmarks/results/{self.source}`"
        if self.command:
            text += f"; `{self.command}`"
        text += ".*"
        notes = history(self.date, scopes)
        if notes:
            text += "\n*History: measured before " + "; before ".join(notes) + ". To be measured again.*"
        return text


def history(date: str | None, scopes: tuple[str, ...]) -> list[str]:
    if date is None:
        return []
    return [f"{when}, when {what}" for when, scope, what in CHANGES if scope in scopes and date < when]


def flag(date: str | None, scopes: tuple[str, ...]) -> str:
    return " (history)" if history(date, scopes) else ""


def machine(cores: int | None, cpu: str | None) -> str | None:
    if cpu is None and cores is None:
        return None
    return f"{cores or '?'} cores ({cpu or 'CPU ' + NOT_RECORDED})"


# ----- the blocks -----
def results_json() -> tuple[dict, Measured]:
    data = read_json("results.json")
    meta = data["meta"]
    m = meta["machine"]
    seeds = meta["seeds"]
    return data, Measured(
        "results.json",
        day(m["date"]),
        machine(m.get("cores"), m.get("cpu")) + f", Python {m['python']}, torch {m['torch']}",
        meta.get("commit"),  # not in this file: results.md does not name one either
        f"seeds {seeds[0]}-{seeds[-1]}",
        meta["command"],
    )


def block_cartpole() -> str:
    """CartPole-v1 and Acrobot-v1: time to target and throughput, a3c against SB3 (results.json)."""
    data, measured = results_json()
    scopes = ("a3c", "vector")
    rows = []
    for s in data["summary"]:
        rss = s.get("peak_rss_mb_median")
        rows.append(
            [
                f"{s['env_id']} ({data['meta']['targets'][s['env_id']]:g})",
                SYSTEM_NAMES[s["system"]],
                f"{s['solved']}/{s['seeds']}",
                over_seeds_text(s.get("time_over_seeds"), num)
                or f"{num(s['time_median_s'])} [{num(s['time_min_s'])}, {num(s['time_max_s'])}]",
                steps(s["steps_to_target_median"]),
                num(rss) if rss is not None else "-",
            ]
        )
    first = table(
        [
            "env (target)",
            "system",
            "solved",
            "seconds to target: "
            + ("IQM [95% CI]; median" if "time_over_seeds" in data["summary"][0] else "median [min, max]"),
            "env steps to target",
            "peak RSS, MB",
        ],
        rows,
    )
    t = data["meta"]["throughput"]
    limit = data["meta"]["raw_env"]
    rows = [
        [
            SYSTEM_NAMES[r["system"]],
            over_seeds_text(r.get("steps_per_second_over_seeds"), lambda v: f"{v:,.0f}")
            or f"{r['steps_per_second_median']:,.0f}",
            f"{100 * r['fraction_of_limit']:.1f}%",
            f"{r['vs_sb3_a2c']:.2f}",
            f"{r['vs_a3c']:.2f}",
        ]
        for r in data["throughput"]
    ]
    env = t["envs"][0]
    rate = (
        "env steps/s: IQM [95% CI]; median" if "steps_per_second_over_seeds" in data["throughput"][0] else "env steps/s"
    )
    second = table(["system", rate, "% of the limit (median)", "x SB3 A2C", "x A3C"], rows)
    return "\n\n".join(
        [
            measured.line(scopes),
            "Time to target: training seconds until the mean return of the last 100 training episodes reached "
            "the target (SB3 with the RL Baselines3 Zoo hyperparameters); over seeds, the interquartile mean with "
            "its 95% bootstrap interval and the median (an unsolved seed counts as the cap):",
            first,
            f"Throughput on {env}: every system trained for the same {t['steps']:,} env steps with no target, "
            f"{t['seeds']} runs each. The limit, random actions in one env per core: "
            f"{limit[env]['limit']:,} steps/s.",
            second,
        ]
    )


def over_seeds_text(figure: dict | None, fmt: Callable[[float], str]) -> str | None:
    """benchmarks/aggregate.py's figure over seeds as "IQM [low, high]; median M" (None where the
    results predate it)."""
    if not figure:
        return None
    interval = f"[{fmt(figure['iqm_ci_low'])}, {fmt(figure['iqm_ci_high'])}]"
    return f"{fmt(figure['iqm'])} {interval}; median {fmt(figure['median'])}"


def seconds_of(cmd: str) -> str:
    m = re.search(r"--seconds (\d+)", cmd)
    return m[1] if m else NOT_RECORDED


def pixels_rows(rel: str) -> tuple[dict, list[dict]]:
    data = read_json(rel)
    return data, data["rows"]


def pixels_measured(rel: str, data: dict, seeds: str) -> Measured:
    meta = data["meta"]
    cpu = meta.get("cpu") or provenance(rel, "cpu")  # files before 2026-12-05 name no CPU
    return Measured(
        rel,
        day(meta["date"]),
        machine(meta.get("cpus"), cpu) + f", Python {meta['python']}",
        meta.get("commit"),
        seeds,
        command(meta["command"]),
    )


def block_pixels() -> str:
    """Pong's steps/s and MinAtar Breakout's return after 300 s, a3c against SB3 A2C: the newest
    pixels-throughput-*.json and pixels-minatar-*.json."""
    out = []
    # The page's figure is a multi-seed one: a one-seed run (the Atari peers' a3c side) stays in its file.
    rel = newest_throughput(lambda data: data["rows"][0]["runs"] >= 3)
    data, rows = pixels_rows(rel)
    limit = next(r for r in rows if r["system"] == "raw")["median_steps_per_s"]
    sb3 = next((r for r in rows if r["system"] == "sb3-a2c"), None)
    body = []
    for r in rows:
        rate = r["median_steps_per_s"]
        vs = f"{rate / sb3['median_steps_per_s']:.1f}x" if sb3 and r["system"] != "raw" else "-"
        body.append(
            [
                SYSTEM_NAMES[r["system"]],
                f"{rate:,.0f}",
                ", ".join(f"{x:,}" for x in r["rates"]),
                vs,
                f"{100 * rate / limit:.0f}%",
            ]
        )
    out.append(pixels_measured(rel, data, f"{rows[0]['runs']} runs a system").line(("a3c",)))
    settings = provenance(rel, "settings")
    seconds = seconds_of(data["meta"]["command"])
    out.append(
        f"ALE/Pong-v5, agent steps/s in {seconds} s of training, median" + (f" ({settings})" if settings else "") + ":"
    )
    out.append(table(["system", "agent steps/s", "each run", "x SB3 A2C", "% of the limit"], body))

    rel = newest("pixels-minatar-*.json")
    data, rows = pixels_rows(rel)
    sb3 = next((r for r in rows if r["system"] == "sb3-a2c"), None)
    # Issue 37's measure where the file's records carry it (pixels.py stability): the best mean
    # and the drop from it to the end, so a final score that is a peak fallen from shows.
    held = all(rec.get("figures") for rec in data.get("records", []))
    body = []
    for r in rows:
        ret = r["median_return_100"]
        vs = f"{ret / sb3['median_return_100']:.1f}x" if sb3 else "-"
        over = over_seeds_text(r.get("return_over_seeds"), num)
        each = per_seed(r["returns"]) if over is None else f"{over} ({', '.join(num(v) for v in r['returns'])})"
        row = [SYSTEM_NAMES[r["system"]], each]
        if held:
            mine = sorted((x for x in data["records"] if x["system"] == r["system"]), key=lambda x: x["seed"])
            row += [
                per_seed([x["figures"]["best"] for x in mine]),
                per_seed_fmt([x["figures"]["drop"] for x in mine], "{:.2f}"),
            ]
        body.append(row + [vs, f"{r['median_steps_per_s']:,.0f}"])
    seconds = seconds_of(data["meta"]["command"])
    out.append(pixels_measured(rel, data, f"{rows[0]['runs']} seeds").line(("a3c", "minatar a3c")))
    out.append(
        f"MinAtar/Breakout-v1, mean return of the last 100 episodes after {seconds} s of training, "
        + ("IQM [95% CI]; median (each seed)" if "return_over_seeds" in rows[0] else "median (each seed)")
        + "; SB3 A2C with the same small CNN and 16 envs"
        + ("; the best mean of the run and the drop from it to the end (0: ended at its best)" if held else "")
        + ":"
    )
    columns = ["system", "mean return"] + (["best", "drop from the best"] if held else [])
    out.append(table(columns + ["x SB3 A2C (medians)", "env steps/s, median"], body))
    return "\n\n".join(out)


# The runs on the default command `a3c train ALE/Pong-v5 [--algo ga3c]` (pixels.md): the other
# directories of pong-runs/ are experiments (a3c42-s0: 42x42 frames with the A3C paper's net,
# interrupted) or A3C runs from before Hogwild's optimizer steps were taken one at a time
# (universe-s0, universe-s1; pixels.md "Pong on the default command with Hogwild's optimizer
# steps one at a time" compares them).
PONG_RUNS = [
    "universe-serialized-s0",
    "universe-serialized-s1",
    "universe-serialized-s2",
    "ga3c-universe-s0",
    "ga3c-universe-s1",
    "intel-a3c-s0",
    "intel-a3c-s1",
    "intel-a3c-s2",
    "intel-a3c-bf16-s0",
    "intel-a3c-bf16-s1",
    "intel-a3c-bf16-s2",
]


def run_summary(rel: str) -> tuple[dict, str | None, str | None]:
    s = read_json(rel)
    commit = (s.get("versions") or {}).get("git_commit")
    return s, provenance(rel, "date"), commit[:7] if commit else None


def pong_runs() -> dict[tuple[str, str, str], list[dict]]:
    """The runs of PONG_RUNS by engine, machine (short CPU name) and the loss's precision (the run's
    config.toml; float32 before the setting existed): each summary with its "cpu", "date",
    "commit", "precision" and "order" (its place in PONG_RUNS, later is newer). Times from two
    machines or two precisions are never put in one median."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for order, name in enumerate(PONG_RUNS):
        rel = f"pong-runs/{name}/summary.json"
        s, date, commit = run_summary(rel)
        cpu = short_cpu(provenance(rel, "cpu"))
        config = tomllib.loads((RESULTS / f"pong-runs/{name}/config.toml").read_text())
        precision = config.get("loss_precision", "float32")
        run = dict(s, cpu=cpu, date=date, commit=commit, precision=precision, order=order)
        groups.setdefault((s["algo"], cpu, precision), []).append(run)
    return groups


def pong_engine(algo: str, precision: str) -> str:
    """The Pong table's engine cell: the engine, and the loss's precision where it is not float32."""
    return system_label(algo if precision == "float32" else f"{algo}:loss_precision={precision}")


def median_minutes_to_18(runs: list[dict]) -> float | None:
    """The median time to 18 in minutes, a run that never reached it counted as slower than every
    one that did; None when that median is such a run."""
    times = sorted(r["time_to_target_s"] if r["solved"] else math.inf for r in runs)
    middle = statistics.median(times)
    return None if math.isinf(middle) else middle / 60


def default_loss_precision(algo: str) -> str:
    """The loss precision of today's `a3c train ALE/Pong-v5 --algo ALGO`: the runs that time the
    default command are the ones that ran with it."""
    from a3c.config import Config

    return Config.for_env("ALE/Pong-v5", algo=algo).loss_precision


def newest_pong_group(groups: dict[tuple[str, str, str], list[dict]], algo: str, cpu: str | None = None) -> list[dict]:
    """Of pong_runs()'s groups, the runs of `algo` on the default command (on `cpu`, if given) timed
    last (the headline's figure)."""
    precision = default_loss_precision(algo)
    mine = [runs for (a, c, p), runs in groups.items() if a == algo and p == precision and cpu in (None, c)]
    return max(mine, key=lambda runs: max((r["date"] or "", r["order"]) for r in runs), default=[])


def block_pong() -> str:
    """Pong solved on the default command: time and agent steps to a mean of 18 (pong-runs/),
    with a median per engine and machine."""
    rows, dates, cpus = [], set(), set()
    groups = pong_runs()
    for runs in groups.values():
        for s in runs:
            dates.add(s["date"] or NOT_RECORDED)
            cpus.add(s["cpu"])
            engine = s.get("engine") or {}
            shape = (
                f"{engine['workers']} workers"
                if "workers" in engine
                else f"ended at {plural(engine['agents'], 'agent')}, {plural(engine['predictors'], 'predictor')}, "
                f"{plural(engine['trainers'], 'trainer')}"
                if "agents" in engine
                else "-"
            )
            rows.append(
                [
                    pong_engine(s["algo"], s["precision"]),
                    str(s["seed"]),
                    f"{s['time_to_target_s'] / 60:.1f} min"
                    if s["solved"]
                    else f"not reached in {s['wall_seconds'] / 60:.0f} min",
                    steps(s["steps_to_target"]),
                    f"{s['steps_per_second']:,.0f}",
                    shape,
                    s["cpu"],
                    s["date"] or NOT_RECORDED,
                    s["commit"] or NOT_RECORDED,
                ]
            )
    for (algo, cpu, precision), runs in groups.items():
        minutes = median_minutes_to_18(runs)
        solved = [r["steps_to_target"] for r in runs if r["solved"]]
        rows.append(
            [
                f"**{pong_engine(algo, precision)}, median of {len(runs)}**",
                "",
                f"**{minutes:.1f} min**" if minutes is not None else "**not reached**",
                f"**{steps(statistics.median(solved))}**" if len(solved) == len(runs) else "",
                "",
                "",
                f"**{cpu}**",
                "",
                "",
            ]
        )
    measured = Measured(
        "pong-runs/",
        f"{min(dates)} to {max(dates)}" if len(dates) > 1 else dates.pop(),
        "2 cores (" + ", ".join(sorted(cpus)) + "), each run alone",
        "per run, below",
    )
    return "\n\n".join(
        [
            measured.line(("a3c",)),
            "`a3c train ALE/Pong-v5 [--algo ga3c]`: time and agent steps until the mean of the last 100 games "
            "reached 18"
            + (
                "; rows naming a `loss_precision` ran with it added (`--set loss_precision=...`), not on the default "
                "command (benchmarks/results/speed.md):"
                if any(p != default_loss_precision(a) for a, _, p in groups)
                else ":"
            ),
            table(
                [
                    "engine",
                    "seed",
                    "time to 18",
                    "agent steps to 18",
                    "agent steps/s",
                    "engine's shape",
                    "machine",
                    "date",
                    "commit",
                ],
                rows,
            ),
        ]
    )


def block_breakout() -> str:
    """ALE/Breakout-v5 on the default command for 30 minutes, both engines (breakout-runs/)."""
    rows, dates = [], set()
    for name in ("a3c-s0", "ga3c-s0"):
        rel = f"breakout-runs/{name}/summary.json"
        s, date, commit = run_summary(rel)
        dates.add(date or NOT_RECORDED)
        rows.append(
            [
                SYSTEM_NAMES[s["algo"]],
                str(s["seed"]),
                f"{s['wall_seconds'] / 60:.0f} min",
                num(s["mean_return_100"]),
                num(s["best_mean_return_100"]),
                steps(s["env_steps"]),
                f"{s['steps_per_second']:,.0f}",
                date or NOT_RECORDED,
            ]
        )
    measured = Measured("breakout-runs/", " and ".join(sorted(dates)), "2 cores (AMD EPYC), each run alone")
    return "\n\n".join(
        [
            measured.line(("a3c",)),
            "`a3c train ALE/Breakout-v5 [--algo ga3c] --time-limit 1800`, mean return of the last 100 games "
            "(random play: about 1):",
            table(
                ["engine", "seed", "trained", "mean return at the end", "best", "agent steps", "agent steps/s", "date"],
                rows,
            ),
        ]
    )


OWN_ENV_SYSTEMS = ["a3c", "ga3c", "a3c-lstm", "ga3c-lstm", "sb3-a2c", "sb3-ppo", "sb3-rppo"]
OWN_ENV_NAMES = {
    "own_envs:NoVelocityCartPole": "CartPole, velocities hidden (home-made)",
    "own_envs:NoVelocityPendulum": "Pendulum, velocity hidden (home-made)",
}


def block_own_env() -> str:
    """Envs nobody tuned: the family defaults against SB3 on its defaults (own-env-defaults/records.json)."""
    rel = "own-env-defaults/records.json"
    records = read_json(rel)
    envs = list(dict.fromkeys(r["env_id"] for r in records))
    systems = [s for s in OWN_ENV_SYSTEMS if any(r["system"] == s for r in records)]
    rows = []
    for env in envs:
        row = [OWN_ENV_NAMES.get(env, env)]
        for system in systems:
            runs = sorted((r for r in records if r["env_id"] == env and r["system"] == system), key=lambda r: r["seed"])
            row.append(per_seed([r["mean_return_100"] for r in runs]) if runs else "")
        rows.append(row)
    seeds = sorted({r["seed"] for r in records})
    budget = {r["cap_s"] for r in records}
    rates = {}
    for system in systems:
        sps = [r["steps_per_second"] for r in records if r["system"] == system]
        rates[system] = f"{SYSTEM_NAMES[system]} {min(sps):,.0f}-{max(sps):,.0f}"
    seeds_line = f"seeds {seeds[0]}-{seeds[-1]}"
    if all(r.get("date") for r in records):  # records stamped where they were measured (since 2026-12-06)
        measured = records_measured(rel, records, seeds_line)
    else:
        date = provenance(rel, "date")
        measured = Measured(rel, date, machine(2, provenance(rel, "cpu")), None, seeds_line, None)
    return "\n\n".join(
        [
            measured.line(("vector", "vector-continuous")),
            f"Mean return of the last 100 training episodes after {max(budget):g} s of training, median of the "
            "seeds (each seed); every system on its own defaults:",
            table(["env"] + [SYSTEM_NAMES[s] for s in systems], rows),
            "Env steps/s in the same runs: " + "; ".join(rates.values()) + ".",
        ]
    )


def block_ray() -> str:
    """--backend ray against the local engines on one machine (ray.json)."""
    rel = "ray.json"
    records = read_json(rel)
    measured = records_measured(rel, records, None)  # each record names its date, commit and CPU
    measured.command = "python benchmarks/ray_bench.py --seeds 3 --algos a3c ga3c ..."
    out = [measured.line(("a3c", "vector"))]

    def pick(kind, algo, backend):
        return [r for r in records if r["kind"] == kind and r["algo"] == algo and r["backend"] == backend]

    rows = []
    for algo in ("a3c", "ga3c"):
        local = statistics.median(r["steps_per_second"] for r in pick("throughput", algo, "local"))
        for backend in ("local", "ray"):
            runs = pick("to_target", algo, backend)
            tput = pick("throughput", algo, backend)
            rate = statistics.median(r["steps_per_second"] for r in tput)
            rows.append(
                [
                    SYSTEM_NAMES[algo],
                    backend,
                    f"{sum(r['solved'] for r in runs)}/{len(runs)}",
                    spread([r["time_to_target_s"] for r in runs if r["solved"]]),
                    steps(statistics.median(r["steps_to_target"] for r in runs if r["solved"])),
                    f"{rate:,.0f}",
                    f"{rate / local:.2f}",
                ]
            )
    out.append(
        "CartPole-v1 on the defaults (2 workers or env runners): seconds to 475 (median [min, max] of "
        "3 seeds) and env steps/s over 200,000 steps with no target:"
    )
    out.append(
        table(["engine", "backend", "solved", "seconds to 475", "env steps to 475", "env steps/s", "x local"], rows)
    )
    rows = []
    for kind, env in (("pong", "ALE/Pong-v5"), ("minatar", "MinAtar/Breakout-v1")):
        for algo in ("a3c", "ga3c"):
            local = pick(kind, algo, "local")
            for backend in ("local", "ray"):
                for r in pick(kind, algo, backend):
                    rows.append(
                        [
                            env,
                            SYSTEM_NAMES[algo],
                            backend,
                            f"{r['wall_seconds']:.0f} s",
                            f"{r['steps_per_second']:,.0f}",
                            f"{r['steps_per_second'] / local[0]['steps_per_second']:.2f}" if local else "-",
                            num(r["mean_return_100"]),
                            steps(r["env_steps"]),
                        ]
                    )
    out.append(
        "Pixels on their presets, one seed each, no target: agent steps/s and the mean return of the "
        "last 100 episodes at the end:"
    )
    out.append(
        table(["env", "engine", "backend", "trained", "agent steps/s", "x local", "mean return", "agent steps"], rows)
    )
    return "\n\n".join(out)


def block_ray_bytes() -> str:
    """Bytes per Ray job: the table benchmarks/ray_bytes.py writes whole into ray-bytes.md (sizes of
    serialized objects, which depend on the presets, not on the machine)."""
    rel = "ray-bytes.md"
    lines = [line for line in (RESULTS / rel).read_text().splitlines() if line.startswith("|")]
    if not lines:
        raise ValueError(f"benchmarks/results/{rel} holds no table")
    return "\n\n".join(
        [
            f"*Measured on a date {NOT_RECORDED}, commit {NOT_RECORDED} (sizes, not times: they change with the "
            f"presets, not the machine); data: `benchmarks/results/{rel}`; `python benchmarks/ray_bytes.py`.*",
            "\n".join(lines),
        ]
    )


CONTINUOUS_ENVS = {
    "pendulum": "Pendulum-v1",
    "halfcheetah": "HalfCheetah-v5",
    "lunarlander": "LunarLanderContinuous-v3",
}


def final_return_result(runs: list[dict], aggregate: dict) -> tuple[str, str]:
    """(measure, result) of a fixed-time row: the final mean return over seeds (IQM [95% CI] and
    median where the file has them, each seed beside), and the best and the drop from it
    (issue 37's measure) where every run recorded its figures."""
    cap = runs[0]["cap_s"]
    finals = [r["mean_return_100"] for r in runs]
    over = over_seeds_text(aggregate.get("return_over_seeds"), num)
    if over:
        measure = f"mean return of the last 100 episodes after {cap:g} s: IQM [95% CI]; median (seeds)"
        result = f"{over} ({', '.join(num(v) for v in finals)})"
    else:
        measure = f"mean return of the last 100 episodes after {cap:g} s, median (seeds)"
        result = per_seed(finals)
    shown = [r.get("figures") for r in runs]
    if all(shown):
        measure += "; best and drop from it, median (seeds)"
        result += (
            f"; best {per_seed([f['best'] for f in shown])}, drop {per_seed_fmt([f['drop'] for f in shown], '{:.2f}')}"
        )
    return measure, result


def block_continuous() -> str:
    """Continuous control against SB3 with rl-zoo3's settings: for each env and system, the newest
    continuous-*.json that measured it."""
    rows = []
    scopes = ("a3c", "vector")
    shown = set(scopes)  # and "ENV SYSTEM" of each a3c/ga3c row: a change to one env's preset for one engine
    notes = set()
    for key, env in CONTINUOUS_ENVS.items():
        files = sorted(p.name for p in RESULTS.glob(f"continuous-{key}-*.json"))
        seen: dict[str, str] = {}
        for rel in reversed(files):  # newest first
            for r in read_json(rel)["runs"]:
                seen.setdefault(r["system"], rel)
        for system in ("a3c", "ga3c", "sb3-ppo", "sb3-a2c"):
            if system not in seen:
                continue
            rel = seen[system]
            data = read_json(rel)
            m = data["meta"]["machine"]
            runs = sorted((r for r in data["runs"] if r["system"] == system), key=lambda r: r["seed"])
            date = day(m["date"])
            row_scopes = (*scopes, f"{env} {system}") if system in ("a3c", "ga3c") else ()
            shown.update(row_scopes)
            aggregate = next((a for a in data.get("summary", []) if a["system"] == system), {})
            if runs[0]["target_return"] is not None:
                target = f"{runs[0]['target_return']:g}"
                solved = [r["time_to_target_s"] for r in runs if r["solved"]]
                over = over_seeds_text(aggregate.get("time_over_seeds"), num)
                if over:
                    measure = f"seconds to {target}: IQM [95% CI]; median (an unsolved seed counts as the cap)"
                    result = f"{over}; {len(solved)}/{len(runs)} solved"
                else:
                    measure = f"seconds to {target}, median [min, max]"
                    result = f"{spread(solved)}, " if solved else ""
                    result += f"{len(solved)}/{len(runs)} solved"
            else:
                measure, result = final_return_result(runs, aggregate)
                if any(r["stop_reason"] != "time_limit" for r in runs):
                    notes.add(env)
                    result += (
                        " ("
                        + ", ".join(
                            f"seed {r['seed']} {r['stop_reason']} at {num(r['train_wall_s'])} s"
                            for r in runs
                            if r["stop_reason"] != "time_limit"
                        )
                        + ")"
                    )
            rows.append(
                [
                    env,
                    SYSTEM_NAMES[system],
                    measure,
                    result,
                    steps(statistics.median(r["env_steps"] for r in runs)),
                    f"{date}, {m['cores']} cores ({m['cpu']})"
                    + (f", commit {data['meta']['commit']}" if data["meta"].get("commit") else "")
                    + (f", {len(runs)} seeds" if len(runs) > 1 else "")
                    + flag(date, row_scopes),
                    f"`{rel}`",
                ]
            )
    out = [
        "*Each row is the newest measurement of that system on that env, with its date and machine (and its "
        "commit, where the file records one). (history): measured before "
        + "; before ".join(f"{when}, when {what}" for when, scope, what in CHANGES if scope in shown)
        + ". To be measured again.*",
        table(["env", "system", "measure", "result", "env steps, median", "measured", "data"], rows),
    ]
    if notes:
        out.append(
            "A run stopped before the time limit at the env's threshold (`target_reached`) or at its "
            "preset's `total_steps`; its mean return is the one it stopped with."
        )
    return "\n\n".join(out)


# ----- learning that stays learned (benchmarks/stability.py) -----
PEAK_SHARE = 0.9  # a3c.stats: the first peak is the first point within 10% of the best (above random play)
STABILITY_COLUMNS = ["best", "final", "drop", "first peak (s)", "mean over run", "below half after the peak"]
STABILITY_KEYS = [
    ("best", "{:,.0f}"),
    ("final", "{:,.0f}"),
    ("drop", "{:.2f}"),
    ("first_peak_at", "{:.0f}"),
    ("mean_over_run", "{:,.0f}"),
    ("below_half", "{:.0%}"),
]


def mean_at(record: dict, seconds: float) -> float | None:
    """The curve's mean return at `seconds` of training (its last point at or before them): what a
    run given that budget ends with, as no default schedules anything by time."""
    points = [p[2] for p in record.get("series") or [] if p[0] <= seconds and p[2] is not None]
    return points[-1] if points else None


def stability_table(records: list[dict], at_s: float | None = None, level: bool = False) -> str:
    """One row per env, budget and system: the median over seeds (each seed in brackets) of the
    figures stability.py stored in each record; with at_s, also the mean return at that second;
    with level, the time to a level every system reached (common_levels)."""
    groups: dict[tuple[str, float, str], list[dict]] = {}
    for r in records:
        if r.get("figures"):
            groups.setdefault((r["env_id"], r["cap_s"], r["system"]), []).append(r)
    header = ["env (budget)", "system", "seeds"]
    header += ([f"at {at_s:g} s"] if at_s else []) + STABILITY_COLUMNS
    header += (["s to the first peak's bar before the fix"] if level else []) + ["steps/s"]
    # Rows from more than one machine name theirs: a time or a rate compares only within one.
    several_cpus = len({short_cpu(r.get("cpu")) for r in records if r.get("figures")}) > 1
    header += ["CPU"] if several_cpus else []
    rows, last_env = [], None
    levels = before_fix_levels() if level else {}
    order = {"a3c": 0, "ga3c": 1}
    for (env_id, cap, system), runs in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], order.get(kv[0][2].split(":")[0], 2), kv[0][2])
    ):
        runs.sort(key=lambda r: r["seed"])
        env_cell = f"{env_id} ({cap:g} s)"
        row = ["" if env_cell == last_env else env_cell, system, ",".join(str(r["seed"]) for r in runs)]
        last_env = env_cell
        if at_s:
            values = [mean_at(r, at_s) for r in runs]
            row.append(per_seed_fmt([v for v in values if v is not None], "{:,.0f}") if cap >= at_s else "")
        for key, fmt in STABILITY_KEYS:
            row.append(per_seed_fmt([r["figures"][key] for r in runs], fmt))
        engine = system.split(":")[0]
        # SB3's rows are measured against A3C's bar: how long each takes to reach the same level.
        bar_key = (env_id, engine if (env_id, engine) in levels else "a3c")
        if level and bar_key in levels:
            bar, before = levels[bar_key]
            reached = [t for t in (time_to(r, bar) for r in runs) if t is not None]
            missed = len(runs) - len(reached)
            parts = ([per_seed_fmt(reached, "{:.0f}")] if reached else []) + ([f"{missed} never"] if missed else [])
            cell = "; ".join(parts)
            row.append(f"{cell} (bar {bar:,.0f}; {bar_key[1].upper()} before the fix {before:.0f})")
        elif level:
            row.append("")
        row.append(f"{statistics.median(r['steps_per_second'] for r in runs):,.0f}")
        if several_cpus:
            row.append(", ".join(sorted({short_cpu(r.get("cpu")) for r in runs})))
        rows.append(row)
    return table(header, rows)


def short_cpu(cpu: str | None) -> str:
    """'Intel(R) Xeon(R) Processor' -> 'Intel Xeon'; 'AMD EPYC 7B13' -> 'AMD EPYC'."""
    if not cpu:
        return NOT_RECORDED
    words = re.sub(r"\((R|TM)\)", "", cpu).split()
    return " ".join(words[:2])


def before_fix_levels() -> dict[tuple[str, str], tuple[float, float]]:
    """Per env and engine, (level, seconds) of the defaults the issue was filed against (the plain
    `a3c` and `ga3c` runs of the screens, before target_kl): the level is their first peak's bar, 90% of the way from
    random play to their median best, and the seconds their median time to it. A change that raises
    the best moves a run's own first peak later even where it learns no slower; the time to this
    fixed bar is the issue's "time to the first peak" compared on equal terms."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in read_json("stability-ablations/records.json"):
        if r["system"] in ("a3c", "ga3c") and r.get("figures"):
            groups.setdefault((r["env_id"], r["system"]), []).append(r)
    levels = {}
    for key, runs in groups.items():
        reference = statistics.median(r["figures"]["reference"] for r in runs)
        best = statistics.median(r["figures"]["best"] for r in runs)
        level = reference + PEAK_SHARE * (best - reference)
        times = [t for t in (time_to(r, level) for r in runs) if t is not None]
        levels[key] = (level, statistics.median(times) if times else math.inf)
    return levels


def time_to(record: dict, level: float) -> float | None:
    """The first second at which a run's curve reached `level` (None: never)."""
    return next((p[0] for p in record.get("series") or [] if p[2] is not None and p[2] >= level), None)


def per_seed_fmt(values: list[float], fmt: str) -> str:
    """median (each seed), each number written with fmt; one seed: the number alone."""
    if not values:
        return ""
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({', '.join(fmt.format(v) for v in values)})"


def records_measured(rel: str, records: list[dict], seeds: str | None) -> Measured:
    """Where a list of records, each with its own date, commit, CPU and cores, was measured."""
    dates = sorted({r["date"] for r in records if r.get("date")})
    commits = sorted({r["commit"] for r in records if r.get("commit")})
    cpus = sorted({r["cpu"] for r in records if r.get("cpu")})
    cores = sorted({r["cores"] for r in records if r.get("cores")})
    return Measured(
        rel,
        " to ".join([dates[0], dates[-1]]) if len(dates) > 1 else (dates[0] if dates else None),
        machine(cores[0] if cores else None, ", ".join(cpus) or None),
        ", ".join(commits) or None,
        seeds,
    )


def stability_block(
    rel: str, seeds: str | None, how: str, at_s: float | None = None, level: bool = False, beside: str | None = None
) -> str:
    """A table of benchmarks/stability.py records (rel) under the line saying where they were
    measured and the paragraph saying how; seeds None: the seeds the records hold. beside: another
    records file whose plain `a3c` rows (the defaults a screen is compared with) join the table."""
    records = read_json(rel) + ([r for r in read_json(beside) if r["system"] == "a3c"] if beside else [])
    seeds = seeds or "seeds " + ", ".join(sorted({str(r["seed"]) for r in records}))
    return "\n\n".join([records_measured(rel, records, seeds).line(()), how, stability_table(records, at_s, level)])


def block_stability() -> str:
    """The defaults trained far past their peaks (InvertedDoublePendulum and Hopper 600 s, with SB3
    PPO on its defaults side by side at 240 s; other envs at their own budgets), from
    stability/records.json."""
    return stability_block(
        "stability/records.json",
        None,
        "`python benchmarks/stability.py --out benchmarks/results/stability --envs ENV --seeds S "
        "--systems a3c ga3c --budget B` (B is the budget beside each env; A3C on InvertedDoublePendulum and Hopper "
        "since d189200: `--systems a3c --own-step-cap`, `--budget 800` on InvertedDoublePendulum and `1100` on "
        "Hopper; on LunarLanderContinuous-v3, A3C since 4b73536 `--systems a3c --own-step-cap --budget 700`, and "
        "GA3C's row is screen 49's runs of its preset of fafa45c, set by hand at 4b77ccf with `--systems "
        "ga3c:KEY=VALUE,... --budget 700` and stopping at the preset's 10M steps; GA3C's row `ga3c:recurrent=true` on "
        "the hidden-velocity pendulum is screen 53's runs of today's defaults, set by hand at d9f4748 from "
        "`stability-memory` with `--budget 700 --systems ga3c:recurrent=true,vtrace=true,target_kl=0.001`, and the "
        "row `ga3c:recurrent=true,vtrace=false,target_kl=0.002` is the defaults before it, `--budget 300`; likewise "
        "GA3C's row on the masked pendulum is screen 54's runs of today's preset (`--budget 600`) and the row "
        "named with the old preset's values is the preset before it; MinAtar "
        "since d9f4748 `--systems a3c ga3c --own-step-cap --budget 800`, stopping at the family's 10M steps, and "
        "A3C's row since bb44fce the runs of `a3c:lr_schedule=linear` from the screens (`stability-ablations`, "
        "at ae70272), set by hand, the row `a3c:lr_schedule=constant` the defaults before them), and "
        "for InvertedDoublePendulum and Hopper `--systems sb3-ppo:n_envs=8 --budget 240` (SB3 PPO on its own "
        "defaults with 8 envs, as "
        "`rl_zoo3` has no settings for these envs' v5); every command is in `stability/meta.json`. "
        "Each run trains for the whole budget with no early stop, alone on the machine, except A3C on "
        "InvertedDoublePendulum and Hopper, both engines on LunarLanderContinuous and on MinAtar, measured with "
        "`--own-step-cap`: as `a3c train ENV` does, each run stops at its defaults' steps (A3C: 20M on the first "
        "two, with the step size annealed to 0 at them; both engines: the lander's preset's 10M, annealed; "
        "MinAtar: the family's 10M, A3C's annealed, GA3C's constant), within the budget. "
        "*at 240 s*: the mean return of the "
        "last 100 episodes after 240 s of training (for a3c, read from the longer run's curve: no default "
        "schedules anything by time); *drop*: (best - final) / (best - random play); *first peak*: the "
        "first second within 10% of the run's own best; *s to the first peak's bar before the fix*: the first "
        "second a run reached the bar that defined the first peak of the defaults the issue was filed against "
        "(90% of the way from random play to their median best, the plain `a3c` rows of the screens below), "
        "beside their own median time to it: a floor that raises the best moves a run's own first peak later "
        "even where it learns no slower, and this bar stays put; *below half after the peak*: the share of the "
        "time after the first peak that the curve spent below halfway from random play to the best (brief "
        "plunges, which the final figure misses). Median (each seed).",
        at_s=240,
        level=True,
    )


# The family of each env of the defaults' table with no preset of its own (Config.for_env reads it
# from the env's spaces, which would build every env to render a page).
TABLE_FAMILIES = {
    "Hopper-v5": "vector-continuous",
    "InvertedDoublePendulum-v5": "vector-continuous",
    "Walker2d-v5": "vector-continuous",
    "MountainCar-v0": "vector",
    "own_envs:NoVelocityCartPole": "vector",
    "own_envs:NoVelocityPendulum": "vector-continuous",
}


def own_end(record: dict, total_steps: int, target: float | None) -> tuple[str, float] | None:
    """Where `a3c train` on the record's settings would have stopped on its curve: ("target", mean)
    at the first point whose mean reached the target, ("steps", mean) at the first point at or past
    total_steps; None when the measured curve ended before either."""
    points = [p for p in record.get("series") or [] if p[2] is not None]
    for _, steps, mean in points:
        if target is not None and mean >= target:
            return "target", mean
        if steps >= total_steps:
            return "steps", mean
    return None


def block_stability_own_end() -> str:
    """Where `a3c train ENV` on today's defaults stops on the curves of the defaults' table: at its
    total_steps or at the env's reward threshold, whichever comes first, and the mean return there
    against the run's best (stability/records.json)."""
    from a3c.defaults import config_from_choice
    from a3c.envs.families import env_threshold
    from a3c.presets import has_preset

    rel = "stability/records.json"
    records = read_json(rel)
    randoms = read_json("stability/random.json")
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        engine, _, sets = r["system"].partition(":")
        if engine in ("a3c", "ga3c") and sets in ("", "recurrent=true"):
            groups.setdefault((r["env_id"], r["system"]), []).append(r)
    rows = []
    for (env_id, system), runs in sorted(groups.items()):
        engine, _, sets = system.partition(":")
        memory = bool(sets)
        family = None if has_preset(env_id) else TABLE_FAMILIES[env_id]
        overrides = {"algo": engine, **({"recurrent": True} if memory else {})}
        cfg = config_from_choice(env_id, (engine, family, memory), overrides)
        total_steps, target = cfg.total_steps, cfg.resolved_target(env_threshold(env_id))
        runs.sort(key=lambda r: r["seed"])
        reached = [(*end, r) for r in runs if (end := own_end(r, total_steps, target))]
        shares = [(mean - randoms[env_id]) / (r["figures"]["best"] - randoms[env_id]) for _, mean, r in reached]
        stops = ", ".join(f"{sum(how == kind for how, _, _ in reached)} at {kind}" for kind in ("target", "steps"))
        beyond = len(runs) - len(reached)
        rows.append(
            [
                env_id,
                system,
                f"{total_steps / 1e6:g}M",
                "none" if target is None else f"{target:,.0f}",
                stops + (f", {beyond} past the measured curve" if beyond else ""),
                per_seed_fmt([mean for _, mean, _ in reached], "{:,.0f}"),
                per_seed_fmt(shares, "{:.2f}"),
            ]
        )
    header = ["env", "system", "total_steps", "target", "stops (seeds)", "mean there", "share of the best"]
    how = (
        "Read from the curves of the defaults' table above (no new runs): where `a3c train ENV` on today's "
        "defaults would stop, at its total_steps or at the mean return that stops it (the preset's "
        "`target_return` or the env's reward threshold), whichever its curve reaches first, and the mean "
        "return there. *share of the best*: (mean there - random play) / (the run's best - random play), 1.00 "
        "for a run that stops at its best. Constant-lr defaults learn the same whatever total_steps is, so "
        "their curve up to it is the run a user gets; the defaults that anneal lr to total_steps were "
        "measured stopping there (`--own-step-cap`). Median (each seed)."
    )
    return "\n\n".join([records_measured(rel, records, None).line(()), how, table(header, rows)])


def block_stability_screens() -> str:
    """The ablations that found why policies fell from their peaks (stability-ablations/records.json)."""
    return stability_block(
        "stability-ablations/records.json",
        "seeds 1, 2 (the issue's collapsing seeds)",
        "`python benchmarks/stability.py --out benchmarks/results/stability-ablations --envs ENV --seeds 1 2 "
        "--budget B --systems ...`. A system `a3c:key=value` is the env's defaults of the time with that "
        "setting changed; plain `a3c` and `ga3c` here are the defaults before `target_kl` (none of these "
        "runs had it unless its name sets it). The 600-s rows named `log_std_min=none` are the defaults "
        "of 49ef422 (`target_kl` without a floor), named from today's defaults, which add the floor. "
        "Median (each seed).",
    )


def block_stability_lunarlander() -> str:
    """Screens 19 and 20: LunarLander's defaults beside changes to its value loss weight and KL bound,
    measured on one day (stability-lunarlander/records.json)."""
    return stability_block(
        "stability-lunarlander/records.json",
        None,
        "`python benchmarks/stability.py --out benchmarks/results/stability-lunarlander --envs LunarLander-v3 "
        "--seeds S --budget 300 --systems a3c a3c:value_coef=2 a3c:value_coef=4` (screen 19) and "
        "`--systems a3c:target_kl=0.001 a3c:target_kl=0.0005` (screen 20), one seed at a time, the systems "
        "of a screen alternating with the order rotated per seed, each run alone on the machine. Plain `a3c` "
        "is today's defaults (value_coef 0.5, target_kl 0.002). Columns as in the defaults' table above. "
        "Median (each seed).",
        level=True,
    )


def block_stability_width() -> str:
    """Screen 21: LunarLander's defaults beside a wider shared torso, measured on one day
    (stability-width/records.json)."""
    return stability_block(
        "stability-width/records.json",
        None,
        "`python benchmarks/stability.py --out benchmarks/results/stability-width --envs LunarLander-v3 "
        "--seeds S --budget 300 --systems a3c 'a3c:hidden_sizes=[128,128]' 'a3c:hidden_sizes=[256,256]'`, "
        "one seed at a time, the systems alternating with the order rotated per seed, each run alone on the "
        "machine. Plain `a3c` is today's defaults (a shared torso of 64x64). Columns as in the defaults' table "
        "above. Median (each seed).",
        level=True,
    )


def block_stability_staleness() -> str:
    """Screen 22: LunarLander with no stale gradient (deterministic=true, one process) beside screen
    21's Hogwild defaults of the same day and src, at about the same env steps."""
    return stability_block(
        "stability-staleness/records.json",
        None,
        "`python benchmarks/stability.py --out benchmarks/results/stability-staleness --envs LunarLander-v3 "
        "--seeds S --budget 560 --systems a3c:deterministic=true,total_steps=4000000`, one seed at a time, each run "
        "alone on the machine; the 300-s rows are screen 21's defaults (`stability-width/records.json`), which "
        "made 3.5-4.2M env steps in their 300 s. Columns as in the defaults' table above. Median (each seed).",
        level=True,
        beside="stability-width/records.json",
    )


def block_stability_critic() -> str:
    """Screens 23 and 24: LunarLander and MountainCar with a critic of its own, an auxiliary value
    head and 32 envs a worker, beside the family defaults on the same machine (LunarLander's: screen
    19's five seeds)."""
    return stability_block(
        "stability-critic/records.json",
        None,
        "`python benchmarks/stability.py --out benchmarks/results/stability-critic --envs ENV --seeds S "
        "--budget 300 --systems a3c:separate_critic=true,aux_value_coef=0.5,envs_per_worker=32` (and for "
        "MountainCar-v0 `--systems a3c` beside it, alternating), one seed at a time, each run alone on the machine; "
        "plain `a3c` is the vector family's defaults of the day, for LunarLander-v3 screen 19's five seeds on the "
        "same machine (`stability-lunarlander/records.json`). Columns as in the defaults' table above. Median "
        "(each seed).",
        level=True,
        beside="stability-lunarlander/records.json",
    )


def block_stability_240() -> str:
    """Screens 29 to 33, 36, 40, 42 and 43: InvertedDoublePendulum and Hopper at the issue's 240 s, changes to
    A3C's defaults beside today's defaults and SB3 PPO, measured on 2026-12-06 and 07 at df371b4 and
    c4503da (stability-240/records.json)."""
    return stability_block(
        "stability-240/records.json",
        None,
        "`python benchmarks/stability.py --out benchmarks/results/stability-240 --envs InvertedDoublePendulum-v5 "
        "--seeds 0 1 2 --budget 240 --systems a3c:log_std_min=-3 a3c:lr_schedule=linear_budget "
        "a3c:separate_critic=true,aux_value_coef=0.5 sb3-ppo:n_envs=8` (screen 29), then `--envs "
        "InvertedDoublePendulum-v5 Hopper-v5 --systems a3c:envs_per_worker=32` (screen 30), then `--envs "
        "InvertedDoublePendulum-v5 --systems a3c:envs_per_worker=32,target_kl=0.001 a3c:envs_per_worker=64` "
        "(screen 31), then `--envs Hopper-v5 --systems a3c:envs_per_worker=64 sb3-ppo:n_envs=8` (screen 32), "
        "then at c4503da `--envs Hopper-v5 --seeds 0 1 --systems a3c:log_std_init=0 a3c:gamma=0.99,gae_lambda=0.95 "
        "a3c:log_std_init=0,gamma=0.99,gae_lambda=0.95 a3c:target_kl=0.005` (screen 33, stopped after seed 1's "
        "second run), then `--envs InvertedDoublePendulum-v5 --seeds S --systems "
        "a3c:log_std_init=0,gamma=0.99,gae_lambda=0.95` (seed 0) and `...,target_kl=0.001` (seeds 0-2; screen "
        "36), then `--envs InvertedDoublePendulum-v5 --seeds S --systems "
        "a3c:log_std_init=0,gamma=0.99,gae_lambda=0.95,separate_critic=true` (seeds 0-2, screen 40) and "
        "`...,separate_critic=true,envs_per_worker=64` (seeds 1 and 0, screen 42; seed 2, screen 43), "
        "the systems of a screen alternating with the order rotated per seed, each run alone on the machine. "
        "`a3c:log_std_min=-3` is today's defaults for these envs exactly (the continuous family's floor), named "
        "so; SB3 PPO is on its own defaults with 8 envs. Columns as in the defaults' table above; *at 240 s* is "
        "the final. Median (each seed).",
        level=True,
    )


def block_headline() -> str:
    """The README's one table: a row per task, each from its own results file, with its date."""
    rows = []
    data, measured = results_json()
    by = {(s["env_id"], s["system"]): s for s in data["summary"]}
    cp = {k: by.get(("CartPole-v1", k)) for k in ("a3c", "ga3c", "sb3-a2c", "sb3-ppo")}
    iqm = "time_over_seeds" in cp["a3c"]

    def seconds(s: dict) -> str:
        return over_seeds_text(s.get("time_over_seeds"), num) or num(s["time_median_s"])

    rows.append(
        [
            f"CartPole-v1: seconds to 475, {'IQM [95% CI]; median' if iqm else 'median'} of {cp['a3c']['seeds']} seeds",
            seconds(cp["a3c"]),
            seconds(cp["ga3c"]),
            f"PPO {seconds(cp['sb3-ppo'])}; A2C {seconds(cp['sb3-a2c'])}",
            f"{measured.date}, {data['meta']['machine'].get('cpu') or NOT_RECORDED}"
            f"{flag(measured.date, ('a3c', 'vector'))}",
        ]
    )
    groups = pong_runs()
    newest_runs = {algo: newest_pong_group(groups, algo) for algo in ("a3c", "ga3c")}

    def pong_cell(runs: list[dict]) -> str:
        minutes = median_minutes_to_18(runs)
        return f"{minutes:.1f} ({len(runs)} seeds)" if minutes is not None else f"not reached ({len(runs)} seeds)"

    every = [r for runs in newest_runs.values() for r in runs]
    dates = sorted({r["date"] or NOT_RECORDED for r in every})
    rows.append(
        [
            "ALE/Pong-v5: minutes to a mean of 18 (solved), median of the seeds",
            *(pong_cell(newest_runs[a]) for a in ("a3c", "ga3c")),
            "not measured",
            (" to ".join([dates[0], dates[-1]]) if len(dates) > 1 else dates[0])
            + ", "
            + ", ".join(sorted({r["cpu"] for r in every})),
        ]
    )
    rel = newest("pixels-minatar-*.json")
    mdata, mrows = pixels_rows(rel)
    mr = {r["system"]: r for r in mrows}
    date = day(mdata["meta"]["date"])
    iqm = "return_over_seeds" in mr["a3c"]

    def final(system: str) -> str:
        return over_seeds_text(mr[system].get("return_over_seeds"), num) or num(mr[system]["median_return_100"])

    cpu = mdata["meta"].get("cpu") or provenance(rel, "cpu")
    rows.append(
        [
            f"MinAtar/Breakout-v1: mean return after {seconds_of(mdata['meta']['command'])} s, "
            f"{'IQM [95% CI]; median' if iqm else 'median'} of {mr['a3c']['runs']} seeds",
            final("a3c"),
            final("ga3c"),
            f"A2C {final('sb3-a2c')}",
            f"{date}, {short_cpu(cpu)}{flag(date, ('a3c',))}",
        ]
    )
    rel = "stability/records.json"
    records = read_json(rel)
    for env_id in ("InvertedDoublePendulum-v5", "Hopper-v5"):
        runs = [r for r in records if r["env_id"] == env_id and r.get("figures")]
        if not runs:
            continue

        def past_the_peak(system: str, runs: list[dict] = runs) -> str:
            mine = [r for r in runs if r["system"] == system]
            if not mine:
                return "not measured"
            at_240 = statistics.median(v for r in mine if (v := mean_at(r, 240)) is not None)
            final = statistics.median(r["figures"]["final"] for r in mine)
            drop = statistics.median(r["figures"]["drop"] for r in mine)
            return f"{num(at_240)}; {num(final)} at {run_end(mine)} (drop {drop:.2f})"

        ppo = [r for r in runs if r["system"].startswith("sb3-ppo")]
        seeds = len({r["seed"] for r in runs})
        dates = sorted({r["date"] for r in runs})
        rows.append(
            [
                f"{env_id}, family defaults: mean return after 240 s; at the run's end (drop from the best), "
                f"median of {plural(seeds, 'seed')}",
                past_the_peak("a3c"),
                past_the_peak("ga3c"),
                f"PPO {num(statistics.median(r['mean_return_100'] for r in ppo))} (240 s)" if ppo else "not measured",
                f"{' to '.join([dates[0], dates[-1]]) if len(dates) > 1 else dates[0]}, "
                f"{', '.join(sorted({r.get('cpu') or NOT_RECORDED for r in runs}))}",
            ]
        )
    return "\n\n".join(
        [
            "*2-core x86-64 machines (their CPU in the last column), no GPU, one torch thread per process; "
            "SB3 with rl-zoo3's settings (InvertedDoublePendulum and Hopper: "
            "its defaults, 8 envs). (history): measured before a later change to the defaults; to be measured again. "
            "Sources, machines and commands: [Benchmarks](docs/benchmarks.md).*",
            table(["task", "A3C", "GA3C", "SB3", "measured"], rows),
        ]
    )


def run_end(runs: list[dict]) -> str:
    """Where a system's runs ended: the steps its own defaults stop at (a3c with --own-step-cap),
    or the budget's seconds when they all ran for the whole of it."""
    if all(r.get("stop_reason") == "total_steps" for r in runs):
        return f"{statistics.median(r['env_steps'] for r in runs) / 1e6:.0f}M steps"
    return f"{round(statistics.median(r['cap_s'] for r in runs))} s"


PEERS = {"cleanrl": "CleanRL PPO on EnvPool", "sample-factory": "Sample Factory 2 (APPO)"}


def block_peers() -> str:
    """Pong beside the Atari speed peers (issue 40): the newest peers-pong-<peer>-*.json of each,
    and a3c's agent steps/s from the newest pixels-throughput-*.json measured on the same CPU; a
    speed ratio is only taken between runs of one machine."""
    files = [newest(f"peers-pong-{peer}-*.json") for peer in PEERS]
    peer_data = [read_json(rel) for rel in files]
    metas = [data["meta"] for data in peer_data]
    cpu = metas[0]["cpu"]
    if any(m["cpu"] != cpu for m in metas):
        raise SystemExit(f"peers: the newest peer runs were measured on different CPUs: {[m['cpu'] for m in metas]}")
    # a3c's side from the peers' own day: the same CPU model ran 30% slower on some days than on others
    # (AtariVectorEnv's raw rate 4,628 on 2026-12-05, 3,128 on 2026-12-06)
    peer_day = day(metas[0]["date"])
    rel_ours = newest_throughput(lambda data: data["meta"].get("cpu") == cpu and day(data["meta"]["date"]) == peer_day)
    data, rows = pixels_rows(rel_ours)
    rate = {r["system"]: r["median_steps_per_s"] for r in rows}
    limit = rate["raw"]
    body = []
    for meta, peer in zip(metas, peer_data, strict=True):
        for r in peer["records"]:
            to_target = "not reached" if r["time_to_target_s"] is None else f"{r['time_to_target_s'] / 60:.1f} min"
            body.append(
                [
                    PEERS[r["peer"]],
                    f"{r['steps_per_s']:,.0f}",
                    f"{100 * r['steps_per_s'] / limit:.0f}%",
                    f"{r['steps_per_s'] / rate['a3c']:.2f}x",
                    # at the budget: a peer's last logged point may come a minute or two after it
                    f"{num(mean_at(r, r['minutes'] * 60))} at {r['minutes']:g} min",
                    to_target,
                    f"{meta['date']}, commit {meta['commit']}",
                ]
            )
    groups = pong_runs()
    for system in ("a3c", "ga3c"):
        # a3c's own Pong runs are 30-minute ones too: the Pong table, on this machine where it has
        # timed the engine, else on the machine that timed it last
        here = newest_pong_group(groups, system, short_cpu(cpu))
        runs = here or newest_pong_group(groups, system)
        minutes = median_minutes_to_18(runs) if runs else None
        where = "this machine" if here else ", ".join(sorted({r["cpu"] for r in runs}))
        to_target = (
            f"{minutes:.1f} min, median of {len(runs)} (the Pong table, {where})"
            if minutes is not None
            else f"not reached, median of {len(runs)} (the Pong table, {where})"
            if runs
            else "-"
        )
        body.append(
            [
                f"a3c {SYSTEM_NAMES[system]}",
                f"{rate[system]:,.0f}",
                f"{100 * rate[system] / limit:.0f}%",
                f"{rate[system] / rate['a3c']:.2f}x",
                "solved" if minutes is not None else "-",
                to_target,
                f"{day(data['meta']['date'])}, commit {data['meta'].get('commit') or NOT_RECORDED}",
            ]
        )
    commands = [f"`{meta['command']}`" for meta in metas]
    peer_runs = "; ".join(f"{PEERS[r['peer']]}: `{r['command']}`" for peer in peer_data for r in peer["records"][:1])
    return "\n\n".join(
        [
            f"*Measured on {machine(metas[0]['cores'], cpu)}, each run alone, one torch thread a process; "
            f"data: `benchmarks/results/{files[0]}`, `{files[1]}` and `{rel_ours}`; " + ", ".join(commands) + ".*",
            f"ALE/Pong-v5, agent steps/s after the first 10 s (one step of one game, 4 emulator frames), against "
            f"the raw limit of {limit:,.0f} (ale-py's AtariVectorEnv, 16 games, 2 threads, random actions) "
            "measured in the same throughput run as a3c's; a peer's score is the mean return of its last "
            "100 games at the budget:",
            table(["system", "agent steps/s", "% of the limit", "x a3c A3C", "score", "time to 18", "measured"], body),
            f"*The peers' own commands: {peer_runs}.*",
        ]
    )


def block_pong_own_frames() -> str:
    """Issue 40's bar: a3c's Pong rate against AtariVectorEnv on the Pong preset's own frames
    (raw42) beside the papers' (raw), from the newest pixels-throughput-*.json that measured both."""
    rel = newest_throughput(lambda data: {"raw", "raw42"} <= {r["system"] for r in data["rows"]})
    data, rows = pixels_rows(rel)
    rate = {r["system"]: r["median_steps_per_s"] for r in rows}
    body = [
        [
            SYSTEM_NAMES[r["system"]],
            f"{rate[r['system']]:,.0f}",
            "-" if r["system"].startswith("raw") else f"{100 * rate[r['system']] / rate['raw']:.0f}%",
            "-" if r["system"].startswith("raw") else f"{100 * rate[r['system']] / rate['raw42']:.0f}%",
        ]
        for r in rows
    ]
    return "\n\n".join(
        [
            pixels_measured(rel, data, f"{rows[0]['runs']} run a system").line(("a3c",)),
            "ALE/Pong-v5, agent steps/s after the first 10 s; the limits are AtariVectorEnv (16 games, 2 threads, "
            "random actions) at the papers' 84x84 with 4 "
            "frames, which SB3 A2C steps, and at the Pong preset's 42x42 single frames, which a3c steps:",
            table(["system", "agent steps/s", "% of the 84x84x4 limit", "% of the 42x42 limit"], body),
        ]
    )


def system_label(system: str) -> str:
    """A system's name in a table: the engine's, then any settings it changed (a3c:key=value)."""
    algo, _, changes = system.partition(":")
    return SYSTEM_NAMES[algo] + (", " + ", ".join(f"`{pair}`" for pair in changes.split(",")) if changes else "")


def block_pong_bf16() -> str:
    """Issue 40: each engine's Pong rate with the loss's network pass in bfloat16 beside float32,
    against the 42x42 limit, from the newest throughput run that measured loss_precision."""
    rel = newest_throughput(lambda data: any("loss_precision" in r["system"] for r in data["rows"]))
    data, rows = pixels_rows(rel)
    rate = {r["system"]: r["median_steps_per_s"] for r in rows}
    body = []
    for r in rows:
        system, algo = r["system"], r["system"].partition(":")[0]
        ours = algo in ("a3c", "ga3c")
        body.append(
            [
                system_label(system) if ours else SYSTEM_NAMES[system],
                f"{rate[system]:,.0f}",
                ", ".join(f"{x:,}" for x in r["rates"]),
                f"{100 * rate[system] / rate['raw42']:.0f}%" if ours else "-",
                f"{rate[system] / rate[algo]:.2f}x" if ours else "-",
            ]
        )
    return "\n\n".join(
        [
            pixels_measured(rel, data, f"{rows[0]['runs']} runs a system").line(("a3c",)),
            "ALE/Pong-v5 on the Pong preset's settings, agent steps/s after the first 10 s (median of the runs), "
            "against AtariVectorEnv at the preset's 42x42 single frames (16 games, 2 threads, random actions):",
            table(["system", "agent steps/s", "per run", "% of the 42x42 limit", "x the engine in float32"], body),
        ]
    )


def block_stability_600() -> str:
    """Screens 34, 36, 38, 41 and 43: the continuous family's candidates from screens 33, 35, 39 and 42
    trained 600 s on Hopper, InvertedDoublePendulum and Walker2d, with SB3 PPO at 240 s on Hopper
    (stability-600/records.json)."""
    return stability_block(
        "stability-600/records.json",
        None,
        "`python benchmarks/stability.py --out benchmarks/results/stability-600 --envs Hopper-v5 --seeds S "
        "--budget 600 --systems a3c:log_std_init=0,gamma=0.99,gae_lambda=0.95` (seed 0, screen 34) or "
        "`a3c:log_std_init=0,gamma=0.99,gae_lambda=0.95,target_kl=0.001` (seeds 1 and 2, screen 36), and "
        "`--budget 240 --systems sb3-ppo:n_envs=8` beside each; then `a3c:log_std_init=0,gamma=0.99,"
        "gae_lambda=0.95,log_std_min=-1.5` (seed 1, screen 38); then `--envs InvertedDoublePendulum-v5 --seeds 1 "
        "--systems a3c:log_std_init=0,gamma=0.99,gae_lambda=0.95,separate_critic=true` and `--envs Walker2d-v5 "
        "--seeds 0` with the same and with `a3c` (the defaults before d831f9d; screen 41); then `--envs Walker2d-v5 "
        "--seeds 0 --systems a3c:log_std_init=0,gamma=0.99,gae_lambda=0.95,separate_critic=true,envs_per_worker=64` "
        "and `--seeds 1` with the same and `a3c` (screen 43, the defaults since d831f9d, spelled out); then "
        "`--envs Hopper-v5`, `--envs InvertedDoublePendulum-v5` (seeds 0, 1, 2) and `--envs Walker2d-v5` (seeds 0 "
        "and 1) with `--systems a3c:total_steps=10000000,lr_schedule=linear` (screen 44: the step size annealed "
        "to 0 at 10M steps, where the IDP and Hopper runs stop within the 600 s; Walker2d's reached 9.4M); then "
        "`--envs InvertedDoublePendulum-v5 --seeds 0 1 2 --budget 240 --systems a3c:total_steps=20000000` (screen "
        "45, at 482346d: the same schedule stretched over 20M steps), and `--envs Hopper-v5 --seeds 0 --budget "
        "1100` with the same (screen 45); then, at f26c4c8, `--own-step-cap --envs LunarLanderContinuous-v3 "
        "--seeds 0 1 2 --budget 700 --systems a3c a3c:separate_critic=true,envs_per_worker=64,log_std_init=0,"
        "gamma=0.99,gae_lambda=0.95,total_steps=10000000` (screen 47: the preset as a user runs it, stopping at its "
        "3M steps, beside the continuous family's A3C settings over 10M); then, at f03a1f0, the same with "
        "`--budget 400 --systems ga3c:vtrace=true,target_kl=0.001` (screen 48); one run at a time with the systems "
        "alternating, each alone on the machine. Columns as in the defaults' table above; *at 240 s* is read "
        "from the run's curve. Median (each seed).",
        at_s=240,
        level=True,
    )


def block_stability_hopper() -> str:
    """Screens 35, 37 to 39 and 43: changes to screen 33's candidate on Hopper, 420 s on seed 0, then a
    floor at -2, a critic of its own, and one with 64 envs a worker for 600 s on three seeds, and SB3 PPO
    for 600 s on two (stability-hopper/records.json)."""
    return stability_block(
        "stability-hopper/records.json",
        None,
        "`python benchmarks/stability.py --out benchmarks/results/stability-hopper --envs Hopper-v5 --seeds 0 "
        "--budget 420 --systems a3c:$F,envs_per_worker=32 a3c:$F,log_std_min=-1.5 a3c:$F,target_kl=0.001 "
        "a3c:$F,normalize_obs=false` with `F=log_std_init=0,gamma=0.99,gae_lambda=0.95` (screen 35), then "
        "`--seeds 0 --budget 600 --systems a3c:$F,log_std_min=-2` (screen 37; seeds 1 and 2 in screen 38), then "
        "`--seeds 1 0 2 --budget 600 --systems a3c:$F,separate_critic=true` (screen 39), then `--seeds 0 1 "
        "--budget 600 --systems sb3-ppo:n_envs=8`, then `--seeds 1 0 2 --budget 600 --systems "
        "a3c:$F,separate_critic=true,envs_per_worker=64` (screen 43, the defaults since d831f9d, spelled out), "
        "one after another, each alone on the machine. Columns as in the defaults' table above; *at 240 s* is "
        "read from the curve. Median (each seed).",
        at_s=240,
        level=True,
    )


def block_stability_memory() -> str:
    """Screens 52 to 54: GA3C's LSTM on the pendulum with its velocity hidden, past its peak at budgets
    of 4x its first peak or more (stability-memory/records.json)."""
    return stability_block(
        "stability-memory/records.json",
        None,
        "`python benchmarks/stability.py --out benchmarks/results/stability-memory --envs a3c/MaskedPendulum-v1 "
        "--seeds 0 --budget 600 --systems ga3c:train_batch=1` (screen 52, the masked pendulum's preset with one "
        "segment an update), then `--envs own_envs:NoVelocityPendulum --seeds 0 1 2 --budget 700 --systems "
        "ga3c:recurrent=true,vtrace=true,target_kl=0.001` (screen 53, screen 51's candidate over a longer budget), "
        "then `--envs a3c/MaskedPendulum-v1 --seeds 0 1 2 --budget 600 --systems ga3c:$M` with M the continuous "
        "family's memory settings for GA3C spelled out over the masked preset's own (screen 54, below), at "
        "d9f4748, one run at a time, each alone on the machine. Columns as in the defaults' table above; "
        "*at 300 s* is read from the run's curve. Median (each seed).",
        at_s=300,
        level=True,
    )


def atari_family_text(summary: dict) -> str:
    """Issue 41's tables: a row per game and system, then each system's human-normalized final over
    games and seeds (benchmarks/atari_family.py writes the summary; its terminal report is this)."""
    rows = [
        [
            row["game"],
            f"`{row['system']}`",
            ",".join(str(seed) for seed in row["seeds"]),
            ", ".join(f"{b:g}" for b in row["budget_s"]),
            ", ".join(f"{v:.1f}" for v in row["final"]),
            ", ".join(f"{v:.1f}" for v in row["best"]),
            ", ".join(f"{v:.2f}" for v in row["drop"]),
            ", ".join(steps(v) for v in row["env_steps"]),
            f"{row['normalized']:.3f}",
        ]
        for row in summary["rows"]
    ]
    aggregates = [
        [
            f"`{a['system']}`",
            ", ".join(a["games"]),
            over_seeds_text(a["figure"], lambda v: f"{v:.3f}") or "no interval until every game has as many seeds",
        ]
        for a in summary["aggregates"]
    ]
    return "\n\n".join(
        [
            table(
                [
                    "game",
                    "system",
                    "seeds",
                    "budget (s)",
                    "final (each seed)",
                    "best",
                    "drop",
                    "env steps",
                    "human-normalized final (median)",
                ],
                rows,
            ),
            table(["system", "games", "human-normalized final over games and seeds: IQM [95% CI]; median"], aggregates),
        ]
    )


def block_atari_family() -> str:
    """Issue 41: the Atari family's candidate recipes and the SB3 peers on the A3C paper's classic
    games at equal wall-clock budgets (atari-family/summary.json)."""
    rel = "atari-family/summary.json"
    summary = read_json(rel)
    seeds = "seeds " + ", ".join(sorted({str(r["seed"]) for r in summary["runs"]}))
    measured = dataclasses.replace(
        records_measured(rel, summary["runs"], seeds),
        # An --out given as an absolute path (a run from a worktree) is shown from the repository's root.
        command="; ".join(
            re.sub(r"(--out )\S*?(benchmarks/results/)", r"\1\2", command(c)) for c in summary["commands"]
        ),
    )
    return "\n\n".join([measured.line(("atari",)), atari_family_text(summary)])


BLOCKS: dict[str, Callable[[], str]] = {
    "headline": block_headline,
    "cartpole": block_cartpole,
    "pixels": block_pixels,
    "pong": block_pong,
    "peers": block_peers,
    "breakout": block_breakout,
    "own-env": block_own_env,
    "ray": block_ray,
    "ray-bytes": block_ray_bytes,
    "continuous": block_continuous,
    "stability": block_stability,
    "stability-screens": block_stability_screens,
    "stability-lunarlander": block_stability_lunarlander,
    "stability-width": block_stability_width,
    "pong-own-frames": block_pong_own_frames,
    "pong-bf16": block_pong_bf16,
    "stability-staleness": block_stability_staleness,
    "stability-critic": block_stability_critic,
    "stability-240": block_stability_240,
    "stability-600": block_stability_600,
    "stability-hopper": block_stability_hopper,
    "stability-memory": block_stability_memory,
    "stability-own-end": block_stability_own_end,
    "atari-family": block_atari_family,
}


# ----- pages -----
def pages(root: Path = ROOT) -> list[Path]:
    # The results' own write-ups (benchmarks/results/*.md) may hold blocks too: their tables then
    # come from the same data as the pages'.
    results = sorted((root / "benchmarks" / "results").glob("*.md"))
    return [root / "README.md", *sorted((root / "docs").rglob("*.md")), *results]


def render(text: str, page: str = "page") -> tuple[str, list[str]]:
    """The page with every block rendered from the data, and the names of the blocks it holds."""
    names: list[str] = []
    cache: dict[str, str] = {}

    def one(m: re.Match) -> str:
        name = m["name"]
        if name not in BLOCKS:
            raise SystemExit(f"{page}: unknown figure block {name!r}; known: {', '.join(BLOCKS)}")
        names.append(name)
        if name not in cache:
            cache[name] = BLOCKS[name]().rstrip("\n")
        body = cache[name]
        if page.startswith("docs/"):  # the README links into docs/; a page of the site links within it
            body = body.replace("](docs/", "](" + "../" * (page.count("/") - 1))
        return f"{m[1]}\n{body}\n\n{m[4]}"

    return BLOCK.sub(one, text), names


def check(root: Path = ROOT) -> list[str]:
    """'page: block' for every block that differs from what the data gives (empty: all agree)."""
    stale = []
    for path in pages(root):
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        for m in BLOCK.finditer(text):
            rendered, _ = render(m.group(0), rel)
            if rendered != m.group(0):
                stale.append(f"{rel}: {m['name']}")
    return stale


def write(root: Path = ROOT) -> list[str]:
    """Rewrite every block; returns 'page: block' for each one that changed."""
    changed = check(root)
    for path in pages(root):
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        new, _ = render(text, rel)
        if new != text:
            path.write_text(new)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs from the data")
    args = parser.parse_args(argv)
    if args.check:
        stale = check()
        for item in stale:
            print(f"figure block out of date with benchmarks/results: {item}", file=sys.stderr)
        if stale:
            print("run `python benchmarks/figures.py` to render them", file=sys.stderr)
        return 1 if stale else 0
    for item in write():
        print(f"rendered {item}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
