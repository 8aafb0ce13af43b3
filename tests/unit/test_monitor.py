"""The monitor: one record of each kind handed to every sink, the metrics row it builds (loss
metrics averaged over the interval, fps, empty cells), resume dropping rows past the checkpoint,
the log timing, and the files a run's monitor writes (monitor.py, with sinks.py behind it)."""

import csv

import pytest

from a3c.config import Config
from a3c.engines.messages import MetricSums
from a3c.loss import LOSS_METRICS
from a3c.monitor import BASE_COLUMNS, Monitor
from a3c.sinks import Sink


def run_config(run_dir, **overrides):
    values = dict(deterministic=True, workers=2, envs_per_worker=2, total_steps=3000, log_interval_steps=500,
                  tensorboard=False, progress=False, run_dir=str(run_dir), seed=1)
    values.update(overrides)
    return Config.for_env("CartPole-v1", **values)


class Recorder(Sink):
    def __init__(self):
        self.calls = []

    def row(self, row):
        self.calls.append(("row", row))

    def episodes(self, rows):
        self.calls.append(("episodes", rows))

    def event(self, line):
        self.calls.append(("event", line))

    def close(self):
        self.calls.append(("close", None))


def test_each_record_is_built_once_and_handed_to_every_sink(tmp_path):
    one, two = Recorder(), Recorder()
    monitor = Monitor(run_config(tmp_path, target_window=2), target=100.0, sinks=[one, two])
    monitor.record_episodes([10.0, 12.5], 64, [10, 12], worker=1)
    monitor.event("something happened")
    monitor.log(128, 3, 2, 0.0007, {"pps": None, "restarts": 0})
    monitor.close()
    assert [kind for kind, _ in one.calls] == ["episodes", "event", "row", "close"]
    assert all(a[1] is b[1] for a, b in zip(one.calls, two.calls, strict=True))  # the same objects
    episodes = one.calls[0][1]
    assert [(e["env_steps"], e["worker"], e["return"], e["length"]) for e in episodes] == [(64, 1, 10.0, 10),
                                                                                          (64, 1, 12.5, 12)]
    assert one.calls[1][1].endswith("s] something happened") and one.calls[1][1].startswith("[")
    row = one.calls[2][1]
    assert list(row)[:7] == ["wall_s", "env_steps", "updates", "episodes", "mean_return_100", "fps", "lr"]
    assert (row["env_steps"], row["updates"], row["episodes"], row["mean_return_100"], row["lr"]) == (
        128, 3, 2, 11.25, 0.0007)
    assert row["pps"] == "" and row["restarts"] == 0  # None is an empty cell; counts stay whole
    assert monitor.last_row is row


def test_loss_metrics_are_averaged_over_the_updates_of_an_interval_then_start_again(tmp_path):
    sink = Recorder()
    monitor = Monitor(run_config(tmp_path), target=None, sinks=[sink])
    monitor.record_losses({"policy_loss": 3.0, "approx_kl": 0.5}, {"policy_loss": 2, "approx_kl": 1})
    monitor.record_losses({"policy_loss": 1.0, "value_loss": 2.0}, {"policy_loss": 2, "value_loss": 4})
    monitor.log(100, 4, 0, 0.001, {})
    monitor.log(200, 4, 0, 0.001, {})
    first, second = (row for kind, row in sink.calls if kind == "row")
    assert first["policy_loss"] == 1.0 and first["value_loss"] == 0.5 and first["approx_kl"] == 0.5
    assert first["entropy"] == "" and first["mean_return_100"] == ""  # nothing measured, no episode yet
    assert all(second[key] == "" for key in LOSS_METRICS)  # an interval without updates reports none


def test_metric_sums_average_each_metric_over_the_updates_that_measured_it():
    sums = MetricSums()
    sums.add({"policy_loss": 2.0, "approx_kl": 0.2})
    sums.add({"policy_loss": 4.0}, times=3)  # a report of 3 updates with one summed value
    sums.merge({"policy_loss": 6.0, "approx_kl": 0.0}, {"policy_loss": 2, "approx_kl": 0})  # kl not measured
    assert sums.means() == {"policy_loss": 2.0, "approx_kl": 0.2}
    assert MetricSums().means() == {}


def test_fps_of_the_first_row_after_a_resume_counts_from_the_checkpoint(tmp_path):
    sink = Recorder()
    monitor = Monitor(run_config(tmp_path), target=None, sinks=[sink], restored=dict(env_steps=5000, wall_seconds=7.0))
    monitor.log(5000, 10, 3, 0.001, {})
    (row,) = (row for kind, row in sink.calls if kind == "row")
    assert row["fps"] == 0.0 and row["wall_s"] >= 7.0


def test_rows_are_due_every_log_interval_steps_in_deterministic_mode(tmp_path):
    monitor = Monitor(run_config(tmp_path, log_interval_steps=500), target=None, sinks=[],
                      restored=dict(env_steps=1000))
    assert not monitor.due(1499) and monitor.due(1500)
    monitor.log(1600, 1, 0, 0.001, {})
    assert not monitor.due(2099) and monitor.due(2100)


def read(path):
    return path.read_bytes().decode()


def test_a_runs_monitor_writes_metrics_episodes_and_events(tmp_path):
    monitor = Monitor.open(run_config(tmp_path), tmp_path, target=None, engine_columns=("restarts", "pss_mb"))
    monitor.record_episodes([10.0], 64, [10], worker=0)
    monitor.log(128, 2, 1, 0.0007, {"restarts": 0, "pss_mb": 123.456789})
    monitor.event("hello")
    monitor.close()
    header, row = read(tmp_path / "metrics.csv").splitlines()
    assert header.split(",") == [*BASE_COLUMNS, "restarts", "pss_mb"]
    values = dict(zip(header.split(","), row.split(","), strict=True))
    assert values["env_steps"] == "128" and values["lr"] == "0.0007" and values["pss_mb"] == "123.456789"
    assert values["mean_return_100"] == "10.0" and values["policy_loss"] == "" and values["restarts"] == "0"
    episodes = list(csv.DictReader(open(tmp_path / "episodes.csv", newline="")))
    assert [(e["env_steps"], e["worker"], e["return"], e["length"]) for e in episodes] == [("64", "0", "10.0", "10")]
    assert read(tmp_path / "events.log").endswith("s] hello\n")
    assert not (tmp_path / "tb").exists()  # tensorboard=false


def test_a_resumed_monitor_drops_rows_past_its_checkpoint_and_says_so(tmp_path):
    (tmp_path / "metrics.csv").write_text("wall_s,env_steps\r\n1.0,100\r\n2.0,200\r\n3.0,300\r\n", newline="")
    (tmp_path / "episodes.csv").write_text("wall_s,env_steps,worker,return,length\r\n1.0,150,0,9.0,9\r\n", newline="")
    restored = dict(env_steps=200, wall_seconds=2.0, recent_returns=[9.0])
    monitor = Monitor.open(run_config(tmp_path), tmp_path, target=None, restored=restored)
    monitor.close()
    assert read(tmp_path / "metrics.csv") == "wall_s,env_steps\r\n1.0,100\r\n2.0,200\r\n"
    assert read(tmp_path / "episodes.csv").count("\n") == 2  # nothing past 200 there: kept
    (line,) = read(tmp_path / "events.log").splitlines()
    assert line.endswith("s] metrics.csv: dropped 1 rows written after the checkpoint resumed from (env_steps > 200)")
    assert monitor.mean_return() == 9.0  # the window carried on


def test_no_progress_bar_but_plain_lines_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    import a3c.sinks

    monkeypatch.setattr(a3c.sinks, "PLAIN_PROGRESS_EVERY_S", 0.0)
    cfg = run_config(tmp_path, progress=True)
    monitor = Monitor.open(cfg, tmp_path, target=None)
    monitor.record_episodes([10.0, 12.0], 100, [10, 12], worker=0)
    monitor.log(100, 1, 2, 0.001, {})
    monitor.log(200, 2, 2, 0.001, {})
    monitor.close()
    err = capsys.readouterr().err
    assert "\r" not in err
    assert "env_steps=200/3,000" in err and "return100=11.0" in err


@pytest.mark.parametrize("progress", [False, True])
def test_events_reach_stderr_only_with_progress(tmp_path, capsys, progress):
    monitor = Monitor.open(run_config(tmp_path, progress=progress), tmp_path, target=None)
    monitor.event("news")
    monitor.close()
    assert ("s] news" in capsys.readouterr().err) is progress


def test_versions_name_the_libraries_and_the_checkout():
    from a3c.provenance import versions

    made_with = versions()
    assert set(made_with) == {"a3c", "torch", "gymnasium", "numpy", "python", "git_commit"}
    commit = made_with["git_commit"]
    assert commit is None or len(commit.removesuffix("-dirty")) == 40


def test_every_engine_shows_on_the_progress_line_only_columns_it_declares():
    import string

    from a3c.engines.ga3c import GA3CEngine
    from a3c.engines.hogwild import HogwildEngine
    from a3c.engines.ray import RayA3CEngine, RayGA3CEngine
    from a3c.engines.serial import SerialA3CEngine, SerialGA3CEngine

    for cls in (HogwildEngine, GA3CEngine, SerialA3CEngine, SerialGA3CEngine, RayA3CEngine, RayGA3CEngine):
        named = {name for field in cls.progress_fields for _, name, _, _ in string.Formatter().parse(field) if name}
        assert named <= set(cls.columns), cls.__name__
    assert GA3CEngine.progress_fields == ("pps={pps:,.0f}", "tps={tps:,.0f}", "lag={policy_lag:.2f}")
