"""The monitor's progress output when stderr is not a terminal: plain lines, no progress bar."""

from a3c.config import Config


def run_config(run_dir, **overrides):
    values = dict(deterministic=True, workers=2, envs_per_worker=2, total_steps=3000, log_interval_steps=500,
                  tensorboard=False, progress=False, run_dir=str(run_dir), seed=1)
    values.update(overrides)
    return Config.for_env("CartPole-v1", **values)


def test_no_progress_bar_but_plain_lines_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    import a3c.monitor
    from a3c.monitor import Monitor

    monkeypatch.setattr(a3c.monitor, "PLAIN_PROGRESS_EVERY_S", 0.0)
    cfg = run_config(tmp_path, progress=True)
    monitor = Monitor(cfg, tmp_path, target=None)
    monitor.record_episodes([10.0, 12.0], 100, [10, 12], worker=0)
    monitor.log(100, 1, 2, 0.001, {})
    monitor.log(200, 2, 2, 0.001, {})
    monitor.close()
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "env_steps=200/3,000" in err and "return100=11.0" in err
