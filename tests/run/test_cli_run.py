"""The command line as a user meets it, through a real `a3c` subprocess: exit codes, messages,
and the run directory contract of a short real run (train, resume, eval, export, plot).
(The same boundary in-process: unit/test_cli_parsing.py.)"""

import csv
import json
import shutil

import pytest

METRICS_COLUMNS = ("wall_s", "env_steps", "updates", "episodes", "mean_return_100", "fps",
                   "policy_loss", "value_loss", "entropy", "grad_norm", "approx_kl", "lr_scale", "lr")


STABILITY_FIELDS = ("best_mean_return_100", "final_mean_return_100", "first_mean_return_100", "drop", "best_at_s",
                    "best_at_steps", "first_peak_at_s", "mean_over_run", "below_half_after_peak")


SUMMARY_FIELDS = ("env_id", "algo", "seed", "stop_reason", "solved", "target_return", "env_steps", "updates",
                  "episodes", "wall_seconds", "steps_per_second", "mean_return_100", "best_mean_return_100",
                  "time_to_target_s", "steps_to_target")


def assert_usage_error(proc, *fragments):
    """Exit 2, one message on stderr that contains every fragment, and no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


# ----- mistakes: exit 2, one paragraph, no traceback -----

def test_unknown_env_id_suggests_the_close_one(run_cli, tmp_path):
    proc = run_cli("train", "CartPol-v1", "--run-dir", tmp_path / "run", cwd=tmp_path)
    assert_usage_error(proc, "unknown environment id 'CartPol-v1'", "Did you mean: CartPole-v1")
    assert not (tmp_path / "run").exists()  # a rejected run leaves nothing behind


def test_bad_set_value_names_the_field(run_cli, tmp_path):
    negative, not_a_number = run_cli.many(
        ("train", "CartPole-v1", "--set", "lr=-1"),
        ("train", "CartPole-v1", "--set", "total_steps=lots", "--set", "progress=false"),
        cwd=tmp_path,
    )
    assert_usage_error(negative, "'lr'", "-1", "Allowed: a number in (0, 1)")
    assert_usage_error(not_a_number, "'total_steps'", "'lots'", "whole number")


def test_unknown_set_field_suggests_close_names(run_cli, tmp_path):
    proc = run_cli("train", "CartPole-v1", "--set", "entropy_coeff=0.1", cwd=tmp_path)
    assert_usage_error(proc, "'entropy_coeff'", "did you mean entropy_coef")


def test_eval_of_a_missing_or_corrupt_checkpoint(run_cli, tmp_path):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    sidecar = folder / "ckpt-000000001000.json"
    sidecar.write_text('{"weights": "ckpt-000000001000.safetensors", "sha2')  # cut off mid-write
    (folder / "ckpt-000000001000.safetensors").write_bytes(b"\x00" * 10)
    missing, corrupt_run, corrupt_file = run_cli.many(
        ("eval", tmp_path / "no-such-run"), ("eval", tmp_path / "run"), ("eval", sidecar), cwd=tmp_path,
    )
    assert_usage_error(missing, "no such run directory or checkpoint")
    assert_usage_error(corrupt_run, "corrupt")
    assert_usage_error(corrupt_file, "corrupt")


def test_unsupported_action_space_of_a_custom_env(run_cli, tmp_path):
    multi_discrete, no_module = run_cli.many(
        ("train", "fakes:MultiDiscreteActionEnv", "--run-dir", tmp_path / "run"),
        ("train", "no_such_module_here:Env"),
        cwd=tmp_path,
    )
    assert_usage_error(multi_discrete, "action space", "MultiDiscrete", "not supported")
    assert not (tmp_path / "run").exists()
    assert_usage_error(no_module, "cannot import module 'no_such_module_here'")


# ----- a short real run, shared by the tests below -----

@pytest.fixture(scope="session")
def trained_run(run_cli, tmp_path_factory):
    """One 20k-step CartPole run with two workers: (run_dir, CompletedProcess)."""
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    proc = run_cli("train", "CartPole-v1", "--total-steps", 20000, "--run-dir", run_dir,
                   "--set", "progress=false", "--workers", 2, timeout=180)
    return run_dir, proc


@pytest.mark.slow
def test_train_writes_the_run_directory_contract(trained_run):
    run_dir, proc = trained_run
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    last_line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last_line["stop_reason"] == "total_steps" and last_line["run_dir"] == str(run_dir)

    assert "total_steps = 20000" in (run_dir / "config.toml").read_text()
    with open(run_dir / "metrics.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert set(METRICS_COLUMNS) <= set(reader.fieldnames)
        rows = list(reader)
    assert rows and int(rows[-1]["env_steps"]) >= 20000
    assert list(run_dir.joinpath("tb").glob("events.out.tfevents.*"))
    assert list(run_dir.joinpath("checkpoints").glob("ckpt-*.json"))
    assert list(run_dir.joinpath("checkpoints").glob("ckpt-*.safetensors"))

    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(SUMMARY_FIELDS) <= set(summary)
    assert summary["env_id"] == "CartPole-v1" and summary["algo"] == "a3c" and summary["seed"] == 0
    assert summary["stop_reason"] == "total_steps" and summary["target_return"] == 475.0
    assert summary["env_steps"] >= 20000 and summary["updates"] > 0 and summary["episodes"] > 0
    # 20k steps cannot hold 100 episodes of ~475: not solved, so no time or steps to target
    assert summary["solved"] is False
    assert summary["time_to_target_s"] is None and summary["steps_to_target"] is None
    assert summary["env_steps"] == int(rows[-1]["env_steps"])
    assert summary["engine"] == {"workers": 2, "restarts": 0}
    # ~1,000 short episodes: the window filled, so the run has stability figures and a best checkpoint.
    stability = summary["stability"]
    assert set(STABILITY_FIELDS) == set(stability)
    assert stability["best_mean_return_100"] == summary["best_mean_return_100"]
    assert stability["final_mean_return_100"] == pytest.approx(summary["mean_return_100"])
    assert 0.0 <= stability["drop"] and stability["best_at_steps"] <= summary["env_steps"]
    best = json.loads((run_dir / "checkpoints" / "best.json").read_text())
    assert best["reason"] == "best" and best["monitor"]["best_mean_return_100"] == summary["best_mean_return_100"]
    # The preset adapts its step size to the KL of each update (target_kl), never past lr.
    assert all(r["approx_kl"] for r in rows if r["updates"] != "0" and r["policy_loss"])
    assert all(0.001 <= float(r["lr_scale"]) <= 1.0 for r in rows if r["lr_scale"])


@pytest.mark.slow
def test_resume_continues_the_run_in_place(run_cli, trained_run, tmp_path):
    first_dir, first = trained_run
    assert first.returncode == 0, first.stderr
    run_dir = tmp_path / "resumed"
    shutil.copytree(first_dir, run_dir)  # leave the shared run as it was for the other tests
    before = json.loads((run_dir / "summary.json").read_text())
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows_before = list(csv.DictReader(fh))

    proc = run_cli("train", "--resume", run_dir, "--total-steps", 40000, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    after = json.loads((run_dir / "summary.json").read_text())
    assert after["stop_reason"] == "total_steps"
    assert after["env_steps"] >= 40000
    assert after["updates"] > before["updates"] and after["episodes"] > before["episodes"]
    # wall time carries on too
    assert after["wall_seconds"] > before["wall_seconds"]
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows_after = list(csv.DictReader(fh))
    assert rows_after[: len(rows_before)] == rows_before
    assert len(rows_after) > len(rows_before)
    assert all(int(r["env_steps"]) >= int(before["env_steps"]) for r in rows_after[len(rows_before):])
    assert "total_steps = 40000" in (run_dir / "config.toml").read_text()


@pytest.mark.slow
def test_training_into_an_existing_run_without_resume_is_refused(run_cli, trained_run):
    run_dir, first = trained_run
    assert first.returncode == 0, first.stderr
    summary_before = (run_dir / "summary.json").read_text()
    proc = run_cli("train", "CartPole-v1", "--run-dir", run_dir, "--total-steps", 1000, "--set", "progress=false")
    assert_usage_error(proc, "already holds a run", "--resume")
    assert (run_dir / "summary.json").read_text() == summary_before


@pytest.mark.slow
def test_eval_json(run_cli, trained_run):
    run_dir, first = trained_run
    assert first.returncode == 0, first.stderr
    proc = run_cli("eval", run_dir, "--episodes", 3, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"episodes", "mean_return", "std_return", "returns", "mean_length"} <= set(report)
    assert report["episodes"] == 3 and len(report["returns"]) == 3
    returns = report["returns"]
    mean = sum(returns) / 3
    assert report["mean_return"] == pytest.approx(mean)
    assert report["std_return"] == pytest.approx((sum((r - mean) ** 2 for r in returns) / 3) ** 0.5)
    # CartPole pays 1 per step, so the mean length is the mean return
    assert report["mean_length"] == pytest.approx(mean)
    assert all(r >= 1 for r in returns)


@pytest.mark.slow
def test_eval_and_export_say_which_checkpoint_they_took(run_cli, trained_run, tmp_path):
    run_dir, first = trained_run
    assert first.returncode == 0, first.stderr
    best, latest = run_cli.many(
        ("eval", run_dir, "--episodes", 1, "--json"),
        ("eval", run_dir, "--episodes", 1, "--json", "--checkpoint", "latest"),
    )
    assert best.returncode == 0 and latest.returncode == 0, (best.stderr, latest.stderr)
    assert "best.json (best, env_steps" in best.stderr  # best is the default
    assert json.loads(best.stdout.strip().splitlines()[-1])["which"] == "best"
    assert "(latest, env_steps" in latest.stderr and "ckpt-" in latest.stderr
    assert json.loads(latest.stdout.strip().splitlines()[-1])["which"] == "latest"
    import a3c

    assert a3c.load(run_dir).which == "best" and a3c.load(run_dir, checkpoint="latest").which == "latest"


@pytest.mark.slow
def test_eval_video(run_cli, trained_run, tmp_path):
    run_dir, first = trained_run
    assert first.returncode == 0, first.stderr
    video_dir = tmp_path / "videos"
    proc = run_cli("eval", run_dir, "--episodes", 1, "--video", video_dir)
    assert proc.returncode == 0, proc.stderr
    videos = list(video_dir.glob("*.mp4"))
    assert videos and videos[0].stat().st_size > 0


@pytest.mark.slow
def test_plot_writes_a_png(run_cli, trained_run, tmp_path):
    run_dir, first = trained_run
    assert first.returncode == 0, first.stderr
    out = tmp_path / "curve.png"
    proc = run_cli("plot", run_dir, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
