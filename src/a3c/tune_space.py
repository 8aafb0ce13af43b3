"""What `a3c tune` searches: Optuna distributions over Config fields, one space per preset family.

The default spaces are data, keyed by the families of a3c.presets and written in the format of a
--space TOML file, which changes them:

    defaults = true        # start from the family's space (false: only the tables below)
    startup_trials = 5     # complete trials before the pruner may stop one
    warmup_reports = 3     # reports of a trial before it may be stopped
    [lr]
    low = 1e-4
    high = 3e-3
    log = true
    [t_max]
    choices = [5, 8, 16]

Each table becomes one of Optuna's distributions (a range: FloatDistribution or IntDistribution
by the field's type; a list: CategoricalDistribution), checked against the Config first: a
mistake is one paragraph naming the field and what is allowed, before any trial runs.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomllib

from a3c.config import Config, coerce, field_kind, field_names, unknown_field_error
from a3c.defaults import family_from_spaces
from a3c.errors import ConfigError, UserError
from a3c.presets import env_family

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

# Default search spaces: ranges around what the family presets (presets.py) settled on.
# Categorical lists where zero is a sensible value (entropy) or a few values say all (t_max).
Spec = dict[str, Any]  # one field's table: low, high, log, step or choices
_VECTOR: dict[str, Spec] = {
    "lr": {"low": 1e-4, "high": 1e-2, "log": True},
    "entropy_coef": {"choices": [0.0, 0.001, 0.003, 0.01, 0.03]},
    "t_max": {"choices": [5, 8, 16, 32]},
    "gamma": {"choices": [0.95, 0.98, 0.99, 0.995, 0.999]},
    "gae_lambda": {"choices": [0.8, 0.9, 0.95, 0.98, 1.0]},
    "envs_per_worker": {"choices": [1, 4, 8, 16]},
    "value_coef": {"low": 0.25, "high": 1.0},
    "max_grad_norm": {"choices": [0.3, 0.5, 1.0, 5.0, 40.0]},
}
# Continuous control: Gaussian policies want smaller steps, longer rollouts and little or no entropy bonus.
_CONTINUOUS: dict[str, Spec] = dict(
    _VECTOR,
    lr={"low": 5e-5, "high": 3e-3, "log": True},
    entropy_coef={"choices": [0.0, 0.0001, 0.001, 0.01]},
    t_max={"choices": [8, 16, 32]},
    gamma={"choices": [0.9, 0.95, 0.98, 0.99, 0.995]},
    envs_per_worker={"choices": [4, 8, 16]},
    max_grad_norm={"choices": [0.3, 0.5, 1.0, 5.0]},
)
# Pixels: the A2C/A3C Atari settings give or take a factor; the conv torso learns from the value error.
_PIXELS: dict[str, Spec] = {
    "lr": {"low": 1e-4, "high": 2e-3, "log": True},
    "entropy_coef": {"choices": [0.003, 0.01, 0.02]},
    "t_max": {"choices": [5, 8, 16, 20]},
    "gamma": {"choices": [0.98, 0.99, 0.995]},
    "gae_lambda": {"choices": [0.9, 0.95, 1.0]},
    "envs_per_worker": {"choices": [4, 8, 16]},
    "value_coef": {"choices": [0.25, 0.5, 1.0]},
    "max_grad_norm": {"choices": [0.5, 1.0, 5.0, 40.0]},
}
_MINATAR: dict[str, Spec] = dict(
    _PIXELS, lr={"low": 1e-4, "high": 3e-3, "log": True}, envs_per_worker={"choices": [8, 16, 32]}
)
SPACES: dict[str, dict[str, Spec]] = {  # keyed as presets.FAMILY_PRESETS
    "vector": _VECTOR,
    "vector-continuous": _CONTINUOUS,
    "atari": _PIXELS,
    "minatar": _MINATAR,
    "image": _PIXELS,
}
SEARCH_SETTINGS = {  # top-level keys of a space file: name -> (default, what is allowed)
    "defaults": (True, "true or false"),
    "startup_trials": (5, "a whole number >= 0"),
    "warmup_reports": (3, "a whole number >= 0"),
}
SPEC_KEYS = ("low", "high", "log", "step", "choices")


@dataclass
class Space:
    """The searched fields as Optuna distributions, the pruner's settings, and notes for the user
    on fields the family's space has but this study does not search."""

    distributions: dict[str, BaseDistribution]
    startup_trials: int = 5
    warmup_reports: int = 3
    notes: list[str] = field(default_factory=list)


def family_of(cfg: Config) -> str:
    """The family whose space applies, chosen as the presets are (a3c.defaults): Atari and MinAtar
    by id, any other env from its spaces, whether a preset names it or not."""
    family = env_family(cfg.env_id) or family_from_spaces(cfg)
    if family is None:  # the env cannot be built: probing it again says why, before any trial runs
        from a3c.envs import probe

        probe(cfg)
        raise UserError(f"{cfg.env_id}: its spaces could not be read, so no search space fits it")
    return family


def read_space(path: str | Path) -> dict[str, Any]:
    """A --space file's tables. Not config.read_toml: that one flattens tables into fields."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"search space file not found: {path}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"search space file {path} is not valid TOML: {exc}") from None


def build_space(
    family: str | None, base: Config, given: dict[str, Any] | None, source: str, fixed: typing.Iterable[str] = ()
) -> Space:
    """The family's default space changed by `given` (a --space file's contents), less the fields
    fixed with --set. gae_lambda only counts with GAE, so it is left out when the run uses n-step returns."""
    given = dict(given or {})
    settings = {key: _setting(key, given.pop(key, default), source) for key, (default, _) in SEARCH_SETTINGS.items()}
    for key, value in given.items():
        if not isinstance(value, dict):
            raise UserError(
                f"search space {source}: '{key}' is neither a search setting ({', '.join(SEARCH_SETTINGS)}) "
                f"nor a table of a Config field such as [lr] with low = ..., high = ..."
            )
    specs: dict[str, Any] = dict(SPACES[family or "vector"]) if settings["defaults"] else {}
    notes = []
    if settings["defaults"] and base.advantage != "gae" and "gae_lambda" not in given:
        specs.pop("gae_lambda", None)
        notes.append("gae_lambda is not searched: this run uses n-step returns (advantage=nstep)")
    specs.update(given)
    distributions = {name: to_distribution(name, spec, source, base) for name, spec in specs.items()}
    for name in fixed:
        if name in distributions:
            del distributions[name]
            notes.append(f"{name} is not searched: --set fixes it")
    return Space(distributions, settings["startup_trials"], settings["warmup_reports"], notes)


def _setting(key: str, value: Any, source: str) -> Any:
    default, allowed = SEARCH_SETTINGS[key]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if not ok:
        raise UserError(f"search space {source}: invalid value for '{key}': {value!r}. Allowed: {allowed}.")
    return value


def to_distribution(name: str, spec: Any, source: str, base: Config) -> BaseDistribution:
    """One field's table as an Optuna distribution, checked against the Config: each choice and
    each end of a range must be a valid value of the field (in the base config)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    where = f"search space {source}: [{name}]"
    if name not in field_names():
        raise UserError(f"{where} is not a Config field. Allowed: {unknown_field_error(name).allowed}.")
    if not isinstance(spec, dict):
        raise UserError(
            f"{where} must be a table, e.g. [{name}] with low = ..., high = ... or choices = [...]; got {spec!r}"
        )
    unknown = [k for k in spec if k not in SPEC_KEYS]
    if unknown:
        raise UserError(
            f"{where}: unknown key {', '.join(unknown)}. Allowed: {', '.join(SPEC_KEYS)} "
            "(low and high, with log = true or a step; or choices = [...])."
        )
    distribution: BaseDistribution
    if "choices" in spec:
        _check_choices(where, name, spec)
        distribution = CategoricalDistribution([_as_choice(name, c) for c in spec["choices"]])
        values = list(distribution.choices)
    else:
        low, high, step, log = _check_range(where, name, spec)
        if field_kind(name) is int:
            distribution = IntDistribution(int(low), int(high), log=log, step=int(step or 1))
        else:
            distribution = FloatDistribution(float(low), float(high), log=log, step=step)
        values = [low, high]
    for value in values:
        try:
            base.replace(**{name: coerce(name, value)})
        except ConfigError as exc:
            raise UserError(f"{where}: {exc}") from None
    return distribution


def _check_choices(where: str, name: str, spec: dict[str, Any]) -> None:
    choices = spec["choices"]
    if set(spec) != {"choices"}:
        raise UserError(f"{where}: choices goes alone, without {', '.join(k for k in spec if k != 'choices')}.")
    if not isinstance(choices, list) or not choices:
        raise UserError(f"{where}: choices must be a non-empty list, e.g. choices = [5, 8, 16]; got {choices!r}")
    if typing.get_origin(field_kind(name)) is dict:
        raise UserError(f"{where}: {name} is a table and cannot be searched.")


def _check_range(where: str, name: str, spec: dict[str, Any]) -> tuple[Any, Any, Any, bool]:
    if "low" not in spec or "high" not in spec:
        raise UserError(f"{where}: give low and high (a range) or choices = [...] (a list).")
    kind = field_kind(name)
    if kind not in (int, float):
        raise UserError(f"{where}: {name} is not a number; search it with choices = [...].")
    low, high, log, step = spec["low"], spec["high"], spec.get("log", False), spec.get("step")
    numbers = [v for v in (low, high, step) if v is not None]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        raise UserError(f"{where}: low, high and step must be numbers; got low={low!r}, high={high!r}, step={step!r}")
    if kind is int and not all(float(v).is_integer() for v in numbers):
        raise UserError(f"{where}: {name} is a whole number, so low, high and step must be whole numbers too.")
    if not isinstance(log, bool):
        raise UserError(f"{where}: log must be true or false; got {log!r}")
    if not low < high:
        raise UserError(f"{where}: low ({low}) must be less than high ({high}).")
    if log and low <= 0:
        raise UserError(f"{where}: a log range needs low > 0; got low={low}.")
    if log and step is not None:
        raise UserError(f"{where}: give log = true or a step, not both.")
    if step is not None and not 0 < step <= high - low:
        raise UserError(f"{where}: step must be > 0 and at most high - low; got {step}.")
    return low, high, step, log


def _as_choice(name: str, value: Any) -> Any:
    """A TOML value as an Optuna choice (None, bool, int, float or str): a list (hidden_sizes) is
    written as "64,64", which the Config reads back."""
    if isinstance(value, list) and typing.get_origin(field_kind(name)) is tuple:
        return ",".join(str(v) for v in value)
    return value


def suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    """Optuna's suggest_* for the distribution (Trial has no public suggest(name, distribution))."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    d = typing.cast(Any, distribution)  # a FloatDistribution or an IntDistribution: low, high, step, log
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
    return trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)


def describe(name: str, distribution: BaseDistribution) -> str:
    """One searched field in words, for the study's opening lines: "lr 0.0001..0.01 (log)"."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return f"{name} in {list(distribution.choices)}"
    d = typing.cast(Any, distribution)
    step = None if isinstance(distribution, IntDistribution) and d.step == 1 else d.step
    how = " (log)" if d.log else f" (step {step:g})" if step else ""
    return f"{name} {d.low:g}..{d.high:g}{how}"
