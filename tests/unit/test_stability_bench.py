"""benchmarks/stability.py's runs: trained for the whole wall-clock budget, or, with
--own-step-cap, stopped where `a3c train ENV` stops (the defaults' table measures that run)."""

from pathlib import Path

from fakes import load_file

stability = load_file(Path(__file__).resolve().parents[2] / "benchmarks" / "stability.py", "stability_under_test")


def test_a_run_trains_for_the_whole_budget_unless_it_keeps_its_own_step_cap():
    lifted = f"total_steps={stability.NO_STEP_CAP}"
    assert stability.a3c_sets(("lr=1e-3",)) == ("target_return=off", lifted, "lr=1e-3")
    # --own-step-cap: no total_steps of ours, so the config's own (and a linear schedule's end) holds.
    assert stability.a3c_sets(("lr=1e-3",), own_step_cap=True) == ("target_return=off", "lr=1e-3")
    # A system that names its own step budget keeps it either way.
    for own in (False, True):
        assert stability.a3c_sets(("total_steps=5",), own) == ("target_return=off", "total_steps=5")


def test_a_system_spec_keeps_the_commas_inside_a_list():
    spec = "a3c:hidden_sizes=[128,128],lr=2e-3"
    assert stability.parse_system(spec) == ("a3c", ("hidden_sizes=[128,128]", "lr=2e-3"))
    assert stability.parse_system("ga3c") == ("ga3c", ())
