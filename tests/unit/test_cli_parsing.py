"""The command line's boundary in-process: mistakes exit 2 with one message and no traceback,
and the Config it builds (training replaced by a stub that records it). The same mistakes
through a real `a3c` subprocess, and real runs: run/test_cli_run.py."""

import json

import pytest


@pytest.mark.parametrize("argv, fragment", [
    (["train", "CartPole-v1", "--workers", "two"], "'workers'"),
    (["train"], "missing ENV_ID"),
    (["train", "CartPole-v1", "--set", "lr"], "key=value"),
    (["train", "CartPole-v1", "--config", "nope.toml"], "config file not found"),
    (["train", "CartPole-v1", "--set", "total_steps=inf"], "'total_steps'"),
    (["train", "CartPole-v1", "--algo", "a4c"], "a3c or ga3c"),
    (["eval", "nowhere"], "no such run directory"),
    (["plot", "nowhere"], "not a run directory"),
])
def test_more_mistakes_in_process(argv, fragment, capsys, tmp_path, monkeypatch):
    """The same boundary, called in-process (cheaper than a subprocess per case)."""
    from a3c.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert not (tmp_path / "runs").exists()


def test_argparse_mistakes_exit_2(capsys):
    from a3c.cli import main

    for argv in ([], ["fly"], ["eval"], ["train", "CartPole-v1", "--no-such-flag", "1"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "a3c: error:" in capsys.readouterr().err


@pytest.fixture
def captured_train(monkeypatch):
    """Replace training with a stub that records the Config the CLI built."""
    import a3c.training

    seen = []

    def fake_train(cfg, resume=None):
        seen.append(cfg)
        return a3c.training.TrainResult(
            env_id=cfg.env_id, algo=cfg.algo, seed=cfg.seed, stop_reason="total_steps", solved=False,
            target_return=None, env_steps=0, updates=0, episodes=0, wall_seconds=0.0, steps_per_second=0.0,
            mean_return_100=None, best_mean_return_100=None, time_to_target_s=None, steps_to_target=None,
            run_dir="x",
        )

    monkeypatch.setattr(a3c.training, "train", fake_train)
    return seen


def test_precedence_preset_then_toml_then_set_then_flags(captured_train, tmp_path, capsys):
    from a3c.cli import main

    toml = tmp_path / "c.toml"
    toml.write_text("lr = 0.002\nt_max = 7\ngamma = 0.95\n")
    assert main(["train", "CartPole-v1", "--config", str(toml), "--set", "lr=0.003", "--set", "gamma=0.9",
                 "--lr", "0.004"]) == 0
    (cfg,) = captured_train
    assert cfg.lr == 0.004  # flag beats --set beats TOML
    assert cfg.gamma == 0.9  # --set beats TOML
    assert cfg.t_max == 7  # TOML beats the preset (8)
    assert cfg.envs_per_worker == 8  # the preset beats the default (1)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["stop_reason"] == "total_steps"


def test_env_id_on_the_command_line_beats_the_config_file(captured_train, tmp_path):
    from a3c.cli import main

    toml = tmp_path / "c.toml"
    toml.write_text('env_id = "Acrobot-v1"\n')
    assert main(["train", "CartPole-v1", "--config", str(toml)]) == 0
    assert captured_train[0].env_id == "CartPole-v1"


def test_env_id_may_come_from_the_config_file_alone(captured_train, tmp_path):
    from a3c.cli import main

    toml = tmp_path / "c.toml"
    toml.write_text('env_id = "Acrobot-v1"\n')
    assert main(["train", "--config", str(toml)]) == 0
    assert captured_train[0].env_id == "Acrobot-v1"
    assert captured_train[0].reward_scale == 0.01  # and its preset applies


@pytest.mark.parametrize("args, fragments", [
    (["--backend", "ray", "--set", "deterministic=true"], ["'deterministic'", "deterministic=true runs in one process",
                                                           "it needs --backend local"]),
    (["--backend", "ray", "--ray-address", "not an address"], ["'ray_address'", "'not an address'", "HOST:PORT"]),
    (["--ray-address", "auto"], ["'ray_address'", "unset with --backend local"]),
])
def test_configs_the_engine_refuses_exit_2_and_write_nothing(args, fragments, tmp_path, capsys):
    from a3c.cli import main

    assert main(["train", "CartPole-v1", "--algo", "ga3c", *args, "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # a rejected run leaves nothing behind


# ----- help lives with the field (issue 38) -----

def _train_help() -> str:
    import argparse

    from a3c.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return " ".join(sub.choices["train"].format_help().split())  # argparse's line breaks undone


def test_every_field_has_help_and_train_help_shows_it_with_the_default():
    from dataclasses import fields

    from a3c.config import Config, field_help

    text = _train_help()
    for f in fields(Config):
        assert f"config field {f.name}" not in text  # the old "config field X (default Y)" template
        assert len(f.metadata["help"].split()) >= 2, f.name  # a phrase, not a word or nothing
        if f.name != "env_id":  # ENV_ID is the positional argument
            assert f"--{f.name.replace('_', '-')} VALUE {field_help(f.name)}" in text, f.name
    assert "--lr VALUE learning rate (default: 0.0007)" in text
    assert "--hidden-sizes VALUE widths of the MLP's hidden layers (default: 64,64)" in text
    assert "(default: the CPU count)" in text and "(default: runs/<env>-<algo>-<timestamp>)" in text
    assert "--resume RUN_DIR continue the run in RUN_DIR in place" in text  # options that are no field keep theirs
