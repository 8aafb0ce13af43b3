"""benchmarks/atari_family.py: the human-normalized score, the table per game and the aggregate."""

from pathlib import Path

import pytest

from fakes import load_file

figures = load_file(Path(__file__).resolve().parents[2] / "benchmarks" / "figures.py", "figures_under_test")
family = load_file(Path(__file__).resolve().parents[2] / "benchmarks" / "atari_family.py", "atari_family_under_test")


def test_the_human_normalized_score_is_0_at_random_play_and_1_at_the_human_score():
    assert family.normalized("Breakout", 1.7) == 0.0
    assert family.normalized("Breakout", 30.5) == 1.0
    assert family.normalized("Pong", -3.05) == pytest.approx(0.5)


def _record(env_id, system, seed, final, date="2026-12-08"):
    return dict(
        env_id=env_id,
        system=system,
        seed=seed,
        env_steps=2_000_000,
        cap_s=1200.0,
        date=date,
        commit="abc1234",
        cpu="AMD EPYC",
        cores=2,
        command="python benchmarks/atari_family.py --out /work/x/benchmarks/results/atari-family --seeds 0",
        figures=dict(final=final, best=final + 1.0, drop=0.01),
    )


def test_the_summary_has_a_row_per_game_and_system_and_an_aggregate_over_games_and_seeds():
    records = [
        _record("ALE/Breakout-v5", "a3c/universe", 0, 16.1),  # (16.1 - 1.7) / 28.8 = 0.5
        _record("ALE/Breakout-v5", "a3c/universe", 1, 30.5),  # 1.0
        _record("ALE/Qbert-v5", "a3c/universe", 0, 163.9),  # 0.0
        _record("ALE/Qbert-v5", "a3c/universe", 1, 163.9, date="2026-12-09"),  # 0.0
        _record("ALE/Breakout-v5", "sb3-ppo", 0, 1.7),
        _record("ALE/Qbert-v5", "sb3-ppo", 0, 163.9),
        _record("ALE/Qbert-v5", "sb3-ppo", 1, 163.9),
        dict(env_id="ALE/Breakout-v5", system="sb3-a2c", seed=0, env_steps=0, figures=None),  # a failed run
    ]
    summary = family.summarize(records)
    rows = {(row["game"], row["system"]): row for row in summary["rows"]}
    assert set(rows) == {
        ("Breakout", "a3c/universe"),
        ("Qbert", "a3c/universe"),
        ("Breakout", "sb3-ppo"),
        ("Qbert", "sb3-ppo"),
    }
    assert rows["Breakout", "a3c/universe"]["final"] == [16.1, 30.5]
    assert rows["Breakout", "a3c/universe"]["normalized"] == pytest.approx(0.75)  # the median final, 23.3
    aggregates = {a["system"]: a for a in summary["aggregates"]}
    # 0.5, 1.0, 0.0, 0.0: the IQM of four runs is the mean of the middle two.
    assert aggregates["a3c/universe"]["figure"]["iqm"] == pytest.approx(0.25)
    assert aggregates["a3c/universe"]["figure"]["median"] == pytest.approx(0.25)
    assert aggregates["sb3-ppo"]["figure"] is None  # one seed on Breakout, two on Qbert: no interval yet
    # Where the kept runs were measured, read as every other block reads records.
    measured = figures.records_measured("atari-family/summary.json", summary["runs"], None)
    assert measured.date == "2026-12-08 to 2026-12-09" and measured.machine == "2 cores (AMD EPYC)"
    assert len(summary["runs"]) == 7 and measured.commit == "abc1234"
    text = figures.atari_family_text(summary)
    assert (
        "| Breakout | `a3c/universe` | 0,1 | 1200 | 16.1, 30.5 | 17.1, 31.5 | 0.01, 0.01 | 2.00M, 2.00M | 0.750 |"
        in text
    )
    assert "no interval until every game has as many seeds" in text and "sb3-a2c" not in text


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
