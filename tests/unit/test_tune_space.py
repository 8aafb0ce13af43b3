"""`a3c tune`'s search space in-process: the default spaces and --space tables become Optuna's own
distributions, keyed by the presets' families and chosen as the presets are; a bad table is one
paragraph naming the field. (The command's exit codes: run/test_tune_cli.py.)"""

import pytest

from a3c.config import Config
from a3c.errors import UserError
from a3c.presets import FAMILY_PRESETS
from a3c.tune_space import SPACES, build_space, describe, family_of, suggest, to_distribution
from fakes import require

optuna = require("optuna")
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402

CARTPOLE = Config.for_env("CartPole-v1")


def test_the_default_spaces_are_keyed_by_the_preset_families():
    assert set(SPACES) == set(FAMILY_PRESETS)


@pytest.mark.parametrize("env_id, family", [
    ("CartPole-v1", "vector"),  # a preset of its own: the family still comes from its spaces
    ("MountainCar-v0", "vector"),
    ("Pendulum-v1", "vector-continuous"),
    ("MountainCarContinuous-v0", "vector-continuous"),
    ("fakes:PixelCatch", "image"),
    ("ALE/Pong-v5", "atari"),  # by id: nothing is built, so no extra is needed
    ("MinAtar/Breakout-v1", "minatar"),
])
def test_the_family_is_chosen_as_the_presets_choose_it(env_id, family):
    assert family_of(Config(env_id=env_id)) == family


def test_an_env_that_cannot_be_built_says_why_before_any_trial():
    with pytest.raises(UserError):
        family_of(Config(env_id="NoSuchEnv-v0"))


def test_tables_become_optuna_distributions():
    def dist(name, spec):
        return to_distribution(name, spec, "f.toml", CARTPOLE)

    lr = dist("lr", {"low": 1e-4, "high": 1e-2, "log": True})
    assert lr == FloatDistribution(1e-4, 1e-2, log=True)
    assert dist("t_max", {"low": 4, "high": 16, "step": 4}) == IntDistribution(4, 16, step=4)
    assert dist("value_coef", {"low": 0.25, "high": 1}) == FloatDistribution(0.25, 1.0)
    assert dist("t_max", {"choices": [5, 8]}) == CategoricalDistribution([5, 8])
    # Optuna's choices are scalars: a list field is written as the command line spells it.
    assert dist("hidden_sizes", {"choices": [[64, 64], [32]]}).choices == ("64,64", "32")
    assert describe("lr", lr) == "lr 0.0001..0.01 (log)"
    assert describe("t_max", dist("t_max", {"low": 4, "high": 16, "step": 4})) == "t_max 4..16 (step 4)"
    assert describe("t_max", dist("t_max", {"choices": [5, 8]})) == "t_max in [5, 8]"


def test_a_sampled_value_comes_from_the_distribution():
    space = build_space("vector", CARTPOLE, None, "(default)")
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    values = {name: suggest(trial, name, d) for name, d in space.distributions.items()}
    assert trial.distributions == space.distributions
    assert 1e-4 <= values["lr"] <= 1e-2 and values["t_max"] in (5, 8, 16, 32)
    assert CARTPOLE.replace(**values)  # a valid config


def test_default_spaces_follow_the_family_and_set_fixes_a_field():
    space = build_space("vector", CARTPOLE, None, "(default)")
    assert set(space.distributions) == {"lr", "entropy_coef", "t_max", "gamma", "gae_lambda", "envs_per_worker",
                                        "value_coef", "max_grad_norm"}
    assert space.distributions["lr"].log and isinstance(space.distributions["t_max"], CategoricalDistribution)
    assert build_space("vector-continuous", CARTPOLE, None, "(default)").distributions["lr"].low == 5e-5
    # n-step returns (the Atari preset): gae_lambda would change nothing, so it is not searched.
    nstep = CARTPOLE.replace(advantage="nstep")
    assert "gae_lambda" not in build_space("atari", nstep, None, "(default)").distributions
    fixed = build_space("vector", CARTPOLE, {"t_max": {"choices": [5, 8]}}, "f.toml", fixed=["lr"])
    assert "lr" not in fixed.distributions and fixed.distributions["t_max"].choices == (5, 8)
    assert "lr is not searched: --set fixes it" in fixed.notes
    only = build_space("vector", CARTPOLE, {"defaults": False, "startup_trials": 1,
                                            "t_max": {"low": 4, "high": 16, "step": 4}}, "f.toml")
    assert set(only.distributions) == {"t_max"} and only.startup_trials == 1


@pytest.mark.parametrize("given, fragment", [
    ({"lr_typo": {"low": 1e-4, "high": 1e-3}}, "[lr_typo] is not a Config field"),
    ({"lr": {"low": 1e-2, "high": 1e-3}}, "low (0.01) must be less than high (0.001)"),
    ({"lr": {"low": 0.0, "high": 1e-3, "log": True}}, "a log range needs low > 0"),
    ({"lr": {"low": 1e-4, "high": 1e-3, "log": True, "step": 1e-4}}, "give log = true or a step, not both"),
    ({"t_max": {"low": 4.5, "high": 16}}, "t_max is a whole number"),
    ({"t_max": {"choices": []}}, "choices must be a non-empty list"),
    ({"t_max": {"choices": [8, 0]}}, "invalid value for 't_max': 0"),
    ({"t_max": {"choices": [8], "low": 4}}, "choices goes alone"),
    ({"optimizer": {"low": 1, "high": 2}}, "optimizer is not a number"),
    ({"env_kwargs": {"choices": [{}]}}, "env_kwargs is a table and cannot be searched"),
    ({"lr": 0.001}, "'lr' is neither a search setting"),
    ({"startup_trials": -1}, "invalid value for 'startup_trials': -1. Allowed: a whole number >= 0"),
])
def test_a_bad_table_is_one_paragraph_naming_the_field(given, fragment):
    with pytest.raises(UserError) as exc:
        build_space("vector", CARTPOLE, given, "f.toml")
    assert fragment in str(exc.value) and "\n" not in str(exc.value)
    assert str(exc.value).startswith("search space f.toml")
