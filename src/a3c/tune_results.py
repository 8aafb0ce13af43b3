"""What an `a3c tune` study says and leaves, read from Optuna's own record of it: trials.csv (from
study.trials_dataframe), best.toml, history.png and importance.png in the study directory; a line
for each finished trial, and the table of the best trials at the end."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from a3c.config import coerce

if TYPE_CHECKING:
    import optuna
    import pandas as pd

ATTRS = ("number", "state", "value", "duration", "intermediate_values", "params", "user_attrs")
NOT_PARAMS = ("number", "state", "value", "reports", "duration_s", "candidate", "settings", "note")


def trials_table(study: optuna.Study, order: Sequence[str] = ()) -> pd.DataFrame:
    """One row a trial: number, state, value, reports, duration_s, (candidate, settings), the
    sampled fields (those in `order` first, in its order), note (why it failed or where it was pruned)."""
    import pandas as pd

    df = study.trials_dataframe(attrs=ATTRS, multi_index=True)
    if df.empty:
        return pd.DataFrame(columns=["number", "state", "value", "reports", "duration_s", "note"])

    def part(name: str) -> pd.DataFrame:  # trials_dataframe leaves out a group no trial has
        return df[name] if name in df.columns.get_level_values(0) else pd.DataFrame(index=df.index)

    attrs = part("user_attrs")
    missing = pd.Series(None, index=df.index, dtype=object)
    table = pd.DataFrame(
        {
            "number": df[("number", "")],
            "state": df[("state", "")].str.lower(),
            "value": df[("value", "")],
            "reports": part("intermediate_values").notna().sum(axis=1),
            "duration_s": df[("duration", "")].dt.total_seconds().round(1),
        }
    )
    if "candidate" in attrs:
        table["candidate"] = attrs["candidate"]
        settings = attrs.get("settings", missing)
        table["settings"] = settings.map(lambda s: " ".join(f"{k}={v}" for k, v in s.items()), na_action="ignore")
    params = part("params")
    names = [n for n in order if n in params] + [n for n in params if n not in order]
    for name in names:
        table[name] = params[name]
    pruned = attrs.get("pruned_at", missing).map(lambda where: f"pruned at {where}", na_action="ignore")
    table["note"] = attrs.get("error", missing).fillna(pruned)
    return table


def write_outputs(study: optuna.Study, table: pd.DataFrame, out: Path, best_header: list[str] | None) -> list[str]:
    """trials.csv, best.toml (given its header: there is a complete trial) and the two plots in
    `out`; returns the names written, and a note in parentheses for a plot that was not."""
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "trials.csv", index=False)
    written = ["trials.csv"]
    if best_header is not None:
        written.append(write_best(study.best_trial, out / "best.toml", best_header))
    written += write_plots(study, out, int((table["state"] == "complete").sum()))
    return written


def best_settings(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The trial's sampled fields (and a candidate's settings) as Config values."""
    raw = {**trial.user_attrs.get("settings", {}), **trial.params}
    return {name: coerce(name, value) for name, value in raw.items()}


def write_best(trial: optuna.trial.FrozenTrial, path: Path, header: list[str]) -> str:
    """The best trial's searched fields alone, for `a3c train ENV --config best.toml` on top of
    the env's preset (not config.save_toml, which writes every field)."""
    values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in best_settings(trial).items()}
    body = tomli_w.dumps(values) if values else "# (no searched fields)\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"# {line}\n" for line in header) + body)
    os.replace(tmp, path)
    return path.name


def write_plots(study: optuna.Study, out: Path, complete: int) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.importance import PedAnovaImportanceEvaluator
    from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's matplotlib plots are marked experimental
        if complete:
            plot_optimization_history(study)
            plt.savefig(out / "history.png", dpi=100, bbox_inches="tight")
            plt.close("all")
            written.append("history.png")
        searched = {n for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" for n in t.params}
        if complete < 2 or not searched:
            written.append(
                f"(no importance.png: it needs 2 complete trials with searched fields; there are {complete})"
            )
            return written
        try:
            # PED-ANOVA needs no scikit-learn (Optuna's default evaluator may).
            plot_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
            plt.savefig(out / "importance.png", dpi=100, bbox_inches="tight")
            written.append("importance.png")
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:  # too few distinct trials for the estimator
            written.append(f"(no importance.png: {type(exc).__name__}: {exc})")
        finally:
            plt.close("all")
    return written


def summary_table(table: pd.DataFrame, maximize: bool, top: int = 5) -> str:
    """The best `top` complete trials as a Markdown table: trial, value and the sampled fields."""
    best = table[table["state"] == "complete"].sort_values("value", ascending=not maximize, kind="stable").head(top)
    names = [n for n in best if n not in NOT_PARAMS and best[n].notna().any()]
    lines = [
        "| trial | value | " + " | ".join(names) + " |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for i in best.index:  # .at keeps each column's type (a row would make the trial number a float)
        cells = [best.at[i, "number"], short(best.at[i, "value"]), *(short(best.at[i, n]) for n in names)]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def closing(
    study: optuna.Study, table: pd.DataFrame, written: list[str], name: str, url: str, out: Path, env_id: str
) -> str:
    """What `a3c tune` prints at the end: the trials by state, the best five, how to train the best,
    what it wrote."""
    states = table["state"].value_counts()
    by_state = ", ".join(f"{states[s]} {s}" for s in ("complete", "pruned", "fail", "running") if s in states)
    lines = [f"study {name}: {by_state} ({url})"]
    if (table["state"] == "complete").any():
        lines.append(summary_table(table, maximize=study.direction.name == "MAXIMIZE"))
        best = study.best_trial
        lines.append(f"best: trial {best.number}, {short(best.value)}; a3c train {env_id} --config {out / 'best.toml'}")
    lines.append(f"wrote in {out}: " + ", ".join(w for w in written if not w.startswith("(")))
    lines += [w.strip("()") for w in written if w.startswith("(")]
    return "\n".join(lines)


def trial_line(trial: optuna.trial.FrozenTrial, why: bool = True) -> str:
    """A finished trial in a few words: "trial 3: 500", "trial 5: pruned at seed 0, 6 s (67.54)",
    "trial 6: fail: <why>"."""
    name = trial.user_attrs.get("candidate")
    who = f"trial {trial.number}" + (f" ({name})" if name else "")
    state = trial.state.name.lower()
    if state == "complete":
        return f"{who}: {short(trial.value)}"
    if state == "pruned":
        last = trial.intermediate_values[trial.last_step] if trial.last_step is not None else None
        return f"{who}: pruned at {trial.user_attrs.get('pruned_at', '?')} ({short(last)})"
    return f"{who}: {state}" + (f": {trial.user_attrs.get('error', '')}" if why else "")


def best_so_far(study: optuna.Study) -> str:
    try:
        best = study.best_trial
    except ValueError:  # no complete trial yet
        return ""
    return f"   [best: trial {best.number}, {short(best.value)}]"


def params_text(trial: optuna.trial.FrozenTrial) -> str:
    params = ", ".join(f"{k}={short(v)}" for k, v in trial.params.items())
    return f"   ({params})" if params else ""


def short(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
