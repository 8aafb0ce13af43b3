"""What a run leaves for analysis and what a user is told: episodes.csv, versions,
metrics that never go backwards across a resume, stop rules on resume, eval's checkpoint
line. Runs here are deterministic (in-process, no worker processes), so each takes a
fraction of a second."""

import csv
import json
import math

import pytest
import tomllib

import a3c
from a3c.cli import main
from a3c.config import Config, read_toml
from a3c.training import AlreadyFinished


def run_config(run_dir, **overrides):
    values = dict(deterministic=True, workers=2, envs_per_worker=2, total_steps=3000, log_interval_steps=500,
                  tensorboard=False, progress=False, run_dir=str(run_dir), seed=1)
    values.update(overrides)
    return Config.for_env("CartPole-v1", **values)


def rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_episodes_csv_has_one_row_per_episode(tmp_path):
    result = a3c.train(run_config(tmp_path / "run"))
    episodes = rows(tmp_path / "run" / "episodes.csv")
    assert list(episodes[0]) == ["wall_s", "env_steps", "worker", "return", "length"]
    assert len(episodes) == result.episodes
    assert {e["worker"] for e in episodes} == {"0", "1"}
    assert all(float(e["return"]) == int(e["length"]) for e in episodes)  # CartPole: +1 a step
    steps = [int(e["env_steps"]) for e in episodes]
    assert steps == sorted(steps) and steps[-1] <= result.env_steps


def test_versions_in_config_toml_and_summary(tmp_path):
    a3c.train(run_config(tmp_path / "run"))
    meta = tomllib.loads((tmp_path / "run" / "config.toml").read_text())["meta"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    for key in ("a3c", "torch", "gymnasium", "python"):
        assert meta[key] and summary["versions"][key] == meta[key]
    assert meta["a3c"] == a3c.__version__
    assert "meta" not in read_toml(tmp_path / "run" / "config.toml")  # the record is not config


@pytest.mark.parametrize("bf16_units, chosen", [(True, "bfloat16"), (False, "float32")])
def test_events_log_says_what_loss_precision_auto_chose_on_this_machine(tmp_path, monkeypatch, bf16_units, chosen):
    from a3c import device

    monkeypatch.setattr(device, "cpu_has_bfloat16_units", lambda: bf16_units)
    a3c.train(run_config(tmp_path / "auto", loss_precision="auto"))
    events = (tmp_path / "auto" / "events.log").read_text()
    assert f"loss_precision=auto: the loss's network pass runs in {chosen}" in events
    a3c.train(run_config(tmp_path / "fixed", loss_precision="float32"))
    assert "loss_precision" not in (tmp_path / "fixed" / "events.log").read_text()


def test_rows_after_the_checkpoint_are_dropped_on_resume(tmp_path):
    run = tmp_path / "run"
    a3c.train(run_config(run))
    # As if the run had gone on after its last checkpoint and been killed, mid-row.
    metrics, episodes = run / "metrics.csv", run / "episodes.csv"
    end = int(rows(metrics)[-1]["env_steps"])
    with open(metrics, "a") as fh:
        fh.write(f"9.9,{end + 640},999,999,1,1,0,0,0,0,0.001\n{end + 1280},99")
    with open(episodes, "a") as fh:
        fh.write(f"9.9,{end + 640},0,10.0,10\n")
    a3c.train(run_config(run, total_steps=end + 2000), resume=run)
    for path in (metrics, episodes):
        steps = [int(r["env_steps"]) for r in rows(path)]
        assert steps == sorted(steps), path
        assert "999" not in [r.get("updates") for r in rows(path)]
    events = (run / "events.log").read_text()
    assert "metrics.csv: dropped 2 rows" in events and "episodes.csv: dropped 1 rows" in events


def test_resuming_a_run_that_met_its_stop_rule_says_so_and_changes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    a3c.train(run_config(run, total_steps=1000))
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(AlreadyFinished, match="already met its stop rule: total_steps") as info:
        a3c.train(run_config(run, total_steps=1000), resume=run)
    assert info.value.result.stop_reason == "total_steps"
    assert main(["train", "--resume", str(run)]) == 0  # done is a success: a retry loop ends
    captured = capsys.readouterr()
    assert "already met its stop rule" in captured.err and "--total-steps" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["stop_reason"] == "total_steps"
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert main(["train", "--resume", str(run), "--total-steps", "2000"]) == 0  # a new rule: it trains on
    assert json.loads((run / "summary.json").read_text())["env_steps"] >= 2000


def test_target_return_off_trains_past_the_target_and_a_met_target_is_reported(tmp_path, capsys):
    run = tmp_path / "run"
    solved = a3c.train(run_config(run, target_return=15, target_window=10, total_steps=20_000))
    assert solved.stop_reason == "target_reached" and solved.env_steps < 20_000
    with pytest.raises(AlreadyFinished, match="target_reached"):
        a3c.train(run_config(run, target_return=15, target_window=10, total_steps=20_000), resume=run)
    assert main(["train", "--resume", str(run), "--target-return", "off", "--total-steps",
                 str(solved.env_steps + 1000)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "total_steps" and summary["target_return"] is None
    assert not summary["solved"]  # solved against a target that is no longer set says nothing
    fresh = a3c.train(run_config(tmp_path / "fresh", target_return="none", total_steps=2000))
    assert fresh.stop_reason == "total_steps" and fresh.target_return is None
    assert read_toml(tmp_path / "fresh" / "config.toml")["target_return"] == math.inf


def test_episodes_finished_while_stopping_go_to_episodes_csv_but_leave_the_solved_window(tmp_path, monkeypatch):
    """Workers finish games while the engine shuts down; they used to join the window, so a run
    stopped on target_reached could report a mean_return_100 under its target (472.9 < 475 once)
    and a --resume of it trained on as if the target had never been met."""
    import a3c.training
    from a3c.engines.messages import Report

    build = a3c.training.make_engine

    def engine_with_stragglers(parts):
        engine = build(parts)
        close = engine.close
        engine.close = lambda: [*close(), Report(rank=0, returns=[0.0] * 5, lengths=[9] * 5)]
        return engine

    monkeypatch.setattr(a3c.training, "make_engine", engine_with_stragglers)
    run = tmp_path / "run"
    config = run_config(run, target_return=15, target_window=10, total_steps=20_000)
    solved = a3c.train(config)
    assert solved.stop_reason == "target_reached" and solved.solved
    assert solved.mean_return_100 >= 15  # five zeros in a window of 10 would put it under 10
    assert json.loads((run / "summary.json").read_text())["mean_return_100"] == solved.mean_return_100
    assert [float(row["return"]) for row in rows(run / "episodes.csv")[-5:]] == [0.0] * 5  # nothing lost
    with pytest.raises(AlreadyFinished, match="target_reached"):
        a3c.train(config, resume=run)


def test_eval_names_the_checkpoint_and_warns_about_a_corrupt_one(tmp_path, capsys):
    run = tmp_path / "run"
    a3c.train(run_config(run, total_steps=500))
    sidecar = sorted((run / "checkpoints").glob("ckpt-*.json"))[-1]  # the newest: step 0 has one too
    corrupt = run / "checkpoints" / "ckpt-999999999999.json"
    corrupt.write_text('{"weights": "ckpt-999999999999.safetensors", "sha2')
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "1", "--json"]) == 0
    captured = capsys.readouterr()
    assert f"loaded {sidecar}" in captured.err
    assert "warning: skipped a corrupt checkpoint" in captured.err and corrupt.name in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["checkpoint"] == str(sidecar)
