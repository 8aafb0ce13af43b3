"""Each sink's output for a given sequence of records: the CSV text exactly, events.log's lines,
the progress line, the TensorBoard scalars (sinks.py)."""

import io

from a3c.sinks import EPISODE_COLUMNS, EpisodesCsv, EventsLog, MetricsCsv, ProgressSink, TensorBoardSink


def text(path):
    return path.read_bytes().decode()  # as written: csv ends its lines with \r\n


ROW = dict(wall_s=12.345, env_steps=1000, updates=20, episodes=7, mean_return_100=21.5, fps=1234.4, lr=0.0007)


def test_metrics_csv_writes_its_columns_in_order_and_an_empty_cell_for_a_missing_one(tmp_path):
    sink = MetricsCsv(tmp_path / "metrics.csv", ("wall_s", "env_steps", "mean_return_100", "pps"))
    sink.row(dict(ROW, mean_return_100="", pps=3.5, unknown=1))  # a key that is no column is left out
    sink.row(dict(ROW, env_steps=2000))
    assert text(tmp_path / "metrics.csv") == (  # each row is on disk before close
        "wall_s,env_steps,mean_return_100,pps\r\n12.345,1000,,3.5\r\n12.345,2000,21.5,\r\n"
    )
    sink.close()


def test_a_csv_appended_to_keeps_its_own_header(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("env_steps,wall_s\r\n500,1.0\r\n", newline="")
    sink = MetricsCsv(path, ("wall_s", "env_steps", "fps"))  # a resume with other columns keeps the file's
    sink.row(ROW)
    sink.close()
    assert text(path) == "env_steps,wall_s\r\n500,1.0\r\n1000,12.345\r\n"
    empty = tmp_path / "empty.csv"
    empty.write_text("")  # a run killed before its first row
    MetricsCsv(empty, ("wall_s",)).close()
    assert text(empty) == "wall_s\r\n"


def test_resuming_drops_rows_past_the_checkpoint_and_a_row_cut_off_mid_write(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("wall_s,env_steps\r\n1.0,100\r\n2.0,200\r\n3.0,300\r\n4.0,400\r\n5.0", newline="")
    sink = MetricsCsv(path, ("wall_s", "env_steps"), resume_at=200)
    assert sink.dropped == 3
    sink.row(dict(wall_s=2.5, env_steps=250))
    sink.close()
    assert text(path) == "wall_s,env_steps\r\n1.0,100\r\n2.0,200\r\n2.5,250\r\n"
    again = MetricsCsv(path, ("wall_s", "env_steps"), resume_at=250)  # nothing past it: the file stays
    assert again.dropped == 0
    again.close()
    assert MetricsCsv(tmp_path / "new.csv", ("env_steps",), resume_at=0).dropped == 0


def test_episodes_csv_writes_finished_episodes_and_flushes_them_with_each_metrics_row(tmp_path):
    path = tmp_path / "episodes.csv"
    sink = EpisodesCsv(path)
    episode = dict(wall_s=1.5, env_steps=64, worker=1, length=20)
    sink.episodes([dict(episode, **{"return": 20.0}), dict(episode, worker="", length="", **{"return": -0.5})])
    sink.row(ROW)
    assert text(path) == (
        ",".join(EPISODE_COLUMNS) + "\r\n1.5,64,1,20.0,20\r\n1.5,64,,-0.5,\r\n"
    )
    sink.close()


def test_events_log_appends_each_line_across_runs(tmp_path):
    log = EventsLog(tmp_path / "events.log")
    log.event("[     1.0s] one")
    log.row(ROW)  # rows and episodes are not news
    log.episodes([dict(wall_s=1.0)])
    log.close()
    again = EventsLog(tmp_path / "events.log")
    again.event("[     2.0s] two\nwith a second line")
    again.close()
    assert (tmp_path / "events.log").read_text() == "[     1.0s] one\n[     2.0s] two\nwith a second line\n"


GA3C_FIELDS = ("pps={pps:,.0f}", "tps={tps:,.0f}", "lag={policy_lag:.2f}")


def test_plain_progress_lines_when_the_stream_is_no_terminal():
    out = io.StringIO()
    sink = ProgressSink("CartPole-v1", 30_000, fields=GA3C_FIELDS, terminal=False, plain_every_s=0.0, stream=out)
    sink.row(dict(ROW, pps=5432.1, tps="", policy_lag=1.234))  # tps had nothing to report: left out
    sink.row(dict(ROW, env_steps=2000, mean_return_100="", fps=99.96, pps=1, tps=2, policy_lag=0))
    sink.event("[    13.0s] worker 1 crashed")
    sink.close()
    assert out.getvalue() == (
        "[    12.3s] CartPole-v1 env_steps=1,000/30,000 return100=21.5 eps=7 fps=1,234 pps=5,432 lag=1.23\n"
        "[    12.3s] CartPole-v1 env_steps=2,000/30,000 return100=- eps=7 fps=100 pps=1 tps=2 lag=0.00\n"
        "[    13.0s] worker 1 crashed\n"
    )


def test_plain_progress_lines_come_at_most_every_interval():
    out = io.StringIO()
    sink = ProgressSink("CartPole-v1", 30_000, terminal=False, plain_every_s=3600.0, stream=out)
    sink.row(ROW)
    assert out.getvalue() == ""
    sink.event("[    13.0s] news")  # events are never held back
    assert out.getvalue() == "[    13.0s] news\n"


def test_a_bar_on_a_terminal_carries_the_same_postfix():
    out = io.StringIO()
    sink = ProgressSink("CartPole-v1", 30_000, initial_steps=500, fields=("lag={policy_lag:.2f}",), terminal=True,
                        stream=out)
    sink.row(dict(ROW, policy_lag=2.0))
    assert sink._bar.n == 1000 and sink._bar.postfix == "return100=21.5 eps=7 fps=1,234 lag=2.00"
    sink.row(dict(ROW, env_steps=99_999))  # past total_steps: the bar stops at its end
    assert sink._bar.n == 30_000
    sink.close()
    assert "\r" in out.getvalue() and "CartPole-v1" in out.getvalue()


def test_tensorboard_gets_every_number_of_a_row_at_its_env_steps(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sink = TensorBoardSink(tmp_path / "tb")
    sink.row(dict(ROW, pps="", restarts=0))  # an empty cell is no number: no scalar
    sink.row(dict(ROW, env_steps=2000, wall_s=20.0, pps=3.0, restarts=0))
    sink.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert sorted(tags) == sorted(f"train/{k}" for k in [*ROW, "pps", "restarts"] if k != "env_steps")
    assert [(s.step, s.value) for s in events.Scalars("train/wall_s")] == [(1000, 12.345000267028809), (2000, 20.0)]
    assert [s.step for s in events.Scalars("train/pps")] == [2000]
