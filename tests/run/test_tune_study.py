"""`a3c tune` for real: a study of tiny CartPole trials that prunes, resumes and writes a best
config that `a3c train --config` takes."""

import csv

import pytest
import tomllib

from fakes import require

# Deterministic runs (one process, fixed order): the same trial gives the same metrics.csv, so which
# trial is pruned does not depend on the machine's load. 20k steps of CartPole take ~2 s.
TINY = ["--trial-steps", "20000", "--seeds", "1", "--set", "deterministic=true", "--set", "workers=1"]


# One good and one bad step size; the pruner may stop a trial after one complete trial and 3 reports.
SPACE = """\
defaults = false
startup_trials = 1
warmup_reports = 3
[lr]
choices = [0.003, 1e-6]
"""


def trials_csv(study_dir):
    with open(study_dir / "trials.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_a_study_prunes_a_bad_trial_resumes_and_writes_a_best_config_train_takes(run_cli, tmp_path):
    optuna = require("optuna")
    study_dir = tmp_path / "study"
    study_dir.mkdir()
    (tmp_path / "space.toml").write_text(SPACE)
    # The good step size first, so the bad one meets a complete trial to be compared with.
    study = optuna.create_study(study_name="CartPole-v1", storage=f"sqlite:///{study_dir / 'study.db'}",
                                direction="maximize")
    study.enqueue_trial({"lr": 0.003})
    study.enqueue_trial({"lr": 1e-6})
    args = ["tune", "CartPole-v1", "--space", "space.toml", "--study-dir", "study", *TINY]

    first = run_cli(*args, "--trials", "3", cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    rows = trials_csv(study_dir)
    assert [r["state"] for r in rows[:2]] == ["complete", "pruned"], rows
    assert len(rows) == 3 and float(rows[0]["value"]) > 40  # random play is ~22
    assert int(rows[1]["reports"]) < 10  # stopped before the end of its budget
    for name in ("best.toml", "history.png", "trials.csv"):
        assert (study_dir / name).is_file(), name
    assert (study_dir / "trials" / "trial-0000" / "seed-0" / "summary.json").is_file()  # an ordinary run directory
    assert "best: trial 0" in first.stdout or "best: trial 2" in first.stdout

    again = run_cli(*args, "--trials", "4", cwd=tmp_path, timeout=300)  # continues the same study
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 finished trials of 4; running 1 more" in again.stderr
    assert len(trials_csv(study_dir)) == 4

    best = (study_dir / "best.toml").read_text()
    assert best.startswith("# a3c tune") and tomllib.loads(best) == {"lr": 0.003}
    trained = run_cli("train", "CartPole-v1", "--config", study_dir / "best.toml", "--total-steps", "2000",
                      "--run-dir", "best", "--set", "progress=false", "--set", "tensorboard=false",
                      "--set", "deterministic=true", "--workers", "1", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "lr = 0.003" in (tmp_path / "best" / "config.toml").read_text()
