"""benchmarks/atari_family.py: the human-normalized score, the table per game and the aggregate."""

from pathlib import Path

import pytest

from fakes import load_file

family = load_file(Path(__file__).resolve().parents[2] / "benchmarks" / "atari_family.py", "atari_family_under_test")


def test_the_human_normalized_score_is_0_at_random_play_and_1_at_the_human_score():
    assert family.normalized("Breakout", 1.7) == 0.0
    assert family.normalized("Breakout", 30.5) == 1.0
    assert family.normalized("Pong", -3.05) == pytest.approx(0.5)


def _record(env_id, system, seed, final):
    return dict(
        env_id=env_id,
        system=system,
        seed=seed,
        env_steps=2_000_000,
        figures=dict(final=final, best=final + 1.0, drop=0.01),
    )


def test_the_report_has_a_row_per_game_and_system_and_an_aggregate_over_games_and_seeds():
    records = [
        _record("ALE/Breakout-v5", "a3c/universe", 0, 16.1),  # (16.1 - 1.7) / 28.8 = 0.5
        _record("ALE/Breakout-v5", "a3c/universe", 1, 30.5),  # 1.0
        _record("ALE/Qbert-v5", "a3c/universe", 0, 163.9),  # 0.0
        _record("ALE/Breakout-v5", "sb3-ppo", 0, 1.7),
        dict(env_id="ALE/Breakout-v5", system="sb3-a2c", seed=0, env_steps=0, figures=None),  # a failed run
    ]
    text = family.report(records)
    assert "| Breakout | a3c/universe | 0,1 | 16.1, 30.5 |" in text
    assert "| 0.750 |" in text  # the median of the two seeds' finals, 23.3, normalized
    assert "| Breakout | sb3-ppo | 0 |" in text and "sb3-a2c" not in text
    aggregate = [line for line in text.splitlines() if line.startswith("| a3c/universe | 3 |")]
    assert aggregate and "median 0.500" in aggregate[0]


def test_a_peer_runs_on_the_zoos_settings_and_a_recipe_on_the_familys(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(family, "run_sb3", lambda *args: calls.append(("sb3", args)) or {})
    monkeypatch.setattr(family, "run_a3c", lambda *args, **kw: calls.append(("a3c", args, kw)) or {})
    family.run("sb3-ppo", family.ZOO, "Breakout", 1, 60.0, tmp_path)
    family.run("a3c", "universe", "Breakout", 1, 60.0, tmp_path)
    assert calls[0] == ("sb3", ("ppo", "ALE/Breakout-v5", 1, 60.0, None, tmp_path))
    kind, args, kw = calls[1]
    assert kind == "a3c" and args[0] == "ALE/Breakout-v5" and kw["system"] == "a3c/universe"
    assert "torso=universe" in kw["sets"] and "recurrent=true" in kw["sets"]
    # No step cap of the benchmark's: the family's total_steps and its lr anneal hold, as in a user's run.
    assert not any(pair.startswith("total_steps=") for pair in kw["sets"])
