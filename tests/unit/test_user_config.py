"""Config a new user reaches for: an explicit 'no early stop', env kwargs, and how both
travel through the command line, TOML files and a run's config.toml."""

import math

import pytest

from a3c.config import Config, read_toml
from a3c.errors import ConfigError


@pytest.mark.parametrize("text", ["none", "None", "off", "OFF", "null"])
def test_target_return_none_or_off_disables_the_early_stop(text):
    cfg = Config.for_env("CartPole-v1", target_return=text)
    assert cfg.target_return == math.inf
    assert cfg.resolved_target(475.0) is None  # no target at all, not the env's 475


def test_the_constructor_takes_off_too():
    assert Config(target_return="off").target_return == math.inf
    assert Config(target_return="auto").target_return is None
    with pytest.raises(ConfigError, match="target_return"):
        Config(target_return="high")


def test_target_return_given_nothing_or_auto_is_the_env_threshold():
    assert Config.for_env("CartPole-v1").resolved_target(475.0) == 475.0
    assert Config.for_env("CartPole-v1", target_return="auto").resolved_target(475.0) == 475.0
    assert Config.for_env("CartPole-v1", target_return="200").resolved_target(475.0) == 200.0


def test_a_disabled_target_survives_config_toml(tmp_path):
    cfg = Config.for_env("CartPole-v1", target_return="off")
    cfg.save_toml(tmp_path / "config.toml")
    assert "target_return = inf" in (tmp_path / "config.toml").read_text()
    assert Config.from_dict(read_toml(tmp_path / "config.toml")) == cfg


def test_target_return_nan_is_refused():
    with pytest.raises(ConfigError, match="target_return"):
        Config(target_return=math.nan)


def test_env_kwargs_from_json_and_through_toml(tmp_path):
    cfg = Config.for_env("CartPole-v1", env_kwargs='{"sutton_barto_reward": true, "size": [2, 3]}')
    assert cfg.env_kwargs == {"sutton_barto_reward": True, "size": [2, 3]}
    cfg.save_toml(tmp_path / "config.toml", meta={"a3c": "0.1.0", "git_commit": None})
    data = read_toml(tmp_path / "config.toml")
    assert "meta" not in data and data["env_kwargs"] == cfg.env_kwargs
    assert Config.from_dict(data) == cfg
    empty = Config.for_env("CartPole-v1")
    empty.save_toml(tmp_path / "empty.toml")
    assert Config.from_dict(read_toml(tmp_path / "empty.toml")) == empty


def test_env_kwargs_as_a_table_in_a_config_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('lr = 0.002\n\n[env_kwargs]\nmax_episode_steps = 200\n')
    assert Config.for_env("CartPole-v1", **read_toml(path)).env_kwargs == {"max_episode_steps": 200}


@pytest.mark.parametrize("text, fragment", [("{bad", "not valid JSON"), ("[1, 2]", "JSON object"),
                                            ('{"k": null}', "no null")])
def test_bad_env_kwargs_name_the_field(text, fragment):
    with pytest.raises(ConfigError, match="env_kwargs") as info:
        Config.for_env("CartPole-v1", env_kwargs=text)
    assert fragment in str(info.value)


def test_env_kwargs_and_target_on_the_command_line(monkeypatch, tmp_path, capsys):
    import a3c.training
    from a3c.cli import main

    seen = []
    monkeypatch.setattr(a3c.training, "train", lambda cfg, resume=None: seen.append(cfg) or _stub(cfg))
    assert main(["train", "CartPole-v1", "--env-kwargs", '{"k": 1}', "--target-return", "off"]) == 0
    assert seen[0].env_kwargs == {"k": 1} and seen[0].target_return == math.inf
    assert main(["train", "CartPole-v1", "--set", 'env_kwargs={"k": 2}']) == 0
    assert seen[1].env_kwargs == {"k": 2}
    capsys.readouterr()
    assert main(["train", "CartPole-v1", "--env-kwargs", "{k: 1}"]) == 2
    err = capsys.readouterr().err
    assert "'env_kwargs'" in err and "not valid JSON" in err and "Traceback" not in err


def _stub(cfg):
    from a3c.training import TrainResult

    return TrainResult(env_id=cfg.env_id, algo=cfg.algo, seed=cfg.seed, stop_reason="total_steps", solved=False,
                       target_return=None, env_steps=0, updates=0, episodes=0, wall_seconds=0.0,
                       steps_per_second=0.0, mean_return_100=None, best_mean_return_100=None,
                       time_to_target_s=None, steps_to_target=None, run_dir="x")
