"""`a3c tune` in-process: bad inputs exit 2 with one paragraph before any trial runs. (The search
space as Optuna distributions: unit/test_tune_space.py; a real study: run/test_tune_study.py.)"""

import sys

import pytest

from fakes import require


def tune_in_process(argv, capsys):
    from a3c.cli import main

    code = main(["tune", "CartPole-v1", "--trials", "1", *argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("space, fragment", [
    ("[lr_typo]\nlow = 1e-4\nhigh = 1e-3\n", "[lr_typo] is not a Config field"),
    ("[lr]\nlow = 1e-2\nhigh = 1e-3\n", "low (0.01) must be less than high (0.001)"),
    ("[lr]\nlow = 0.0\nhigh = 1e-3\nlog = true\n", "a log range needs low > 0"),
    ("[t_max]\nchoices = []\n", "choices must be a non-empty list"),
    ("[t_max]\nchoices = [8, 0]\n", "invalid value for 't_max': 0"),
    ("[t_max]\nlow = 4\nhigh = 16\nbest = 8\n", "unknown key best"),
    ("pruning = 3\n", "'pruning' is neither a search setting"),
])
def test_a_bad_search_space_exits_2_naming_it(space, fragment, tmp_path, capsys, monkeypatch):
    require("optuna")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.toml").write_text(space)
    code, err = tune_in_process(["--space", "space.toml"], capsys)
    assert code == 2 and fragment in err, err
    assert "Traceback" not in err


def test_a_bad_storage_url_exits_2(tmp_path, capsys, monkeypatch):
    require("optuna")
    monkeypatch.chdir(tmp_path)
    code, err = tune_in_process(["--storage", "nosuchdb://host/study"], capsys)
    assert code == 2 and "cannot open the study storage nosuchdb://host/study" in err, err
    assert "SQLAlchemy URL" in err


def test_a_missing_optuna_exits_2_naming_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    code, err = tune_in_process([], capsys)
    assert code == 2 and "pip install 'a3c[tune]'" in err, err


@pytest.mark.parametrize("argv, fragment", [
    (["--trial-time", "5", "--trial-steps", "1000"], "not allowed with argument"),
    (["--objective", "speed"], "invalid choice"),
])
def test_usage_mistakes_exit_2(argv, fragment, capsys):
    from a3c.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["tune", "CartPole-v1", "--trials", "1", *argv])
    assert exc.value.code == 2 and fragment in capsys.readouterr().err


def test_set_values_and_objective_time_are_checked_before_any_trial(tmp_path, capsys, monkeypatch):
    require("optuna")
    monkeypatch.chdir(tmp_path)
    code, err = tune_in_process(["--set", "lr=2"], capsys)
    assert code == 2 and "invalid value for 'lr'" in err
    code, err = tune_in_process(["--objective", "time", "--set", "target_return=off"], capsys)
    assert code == 2 and "needs a target return" in err
    assert not list(tmp_path.iterdir())  # nothing written

