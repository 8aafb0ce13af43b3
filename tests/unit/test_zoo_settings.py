"""The SB3 peers' settings (benchmarks/zoo_hyperparams.py): an ALE game takes the zoo's "atari"
entry, every other env its own entry or SB3's defaults."""

from pathlib import Path

from fakes import load_file

zoo = load_file(Path(__file__).resolve().parents[2] / "benchmarks" / "zoo_hyperparams.py", "zoo_under_test")


def test_an_ale_game_takes_the_zoos_atari_entry():
    assert zoo.zoo_key("ALE/Breakout-v5") == "atari"
    assert zoo.zoo_key("CartPole-v1") == "CartPole-v1"
    run, kwargs, source = zoo.sb3_settings("ppo", "ALE/Seaquest-v5")
    assert run == dict(n_envs=8, n_timesteps=1e7, normalize=False, atari=True)
    assert source == "rl-baselines3-zoo ppo.yml (atari)"
    assert (kwargs["n_steps"], kwargs["n_epochs"], kwargs["batch_size"]) == (128, 4, 256)
    # "lin_X" is annealed to 0 over the run: SB3 passes the progress remaining, 1 -> 0.
    assert kwargs["learning_rate"](1.0) == 2.5e-4 and kwargs["learning_rate"](0.5) == 1.25e-4
    assert kwargs["clip_range"](1.0) == 0.1
    assert zoo.ZOO["a2c"]["atari"]["n_envs"] == 16 and zoo.ZOO["a2c"]["atari"]["vf_coef"] == 0.25


def test_a_vector_env_keeps_its_own_entry_and_an_unknown_one_sb3s_defaults():
    run, kwargs, source = zoo.sb3_settings("a2c", "CartPole-v1")
    assert run == dict(n_envs=8, n_timesteps=5e5, normalize=False, atari=False)
    assert kwargs == dict(ent_coef=0.0) and source == "rl-baselines3-zoo a2c.yml"
    run, kwargs, source = zoo.sb3_settings("ppo", "Walker2d-v5")
    assert run == dict(n_envs=1, n_timesteps=1e6, normalize=False, atari=False) and kwargs == {}
    assert source.startswith("SB3 defaults")
