"""export.py: ONNX round trips for every kind of policy, compared with the torch Agent in onnxruntime."""

import sys

import numpy as np
import pytest
import torch

from a3c.agent import Agent
from a3c.checkpoint import save_checkpoint
from a3c.cli import main
from a3c.config import Config
from a3c.distributions import distribution_for
from a3c.envs import make_env, make_env_with_spec
from a3c.export import ExportCheckFailed, GreedyPolicy, check, export_policy, play
from a3c.models import build_model
from fakes import require

ort = require("onnxruntime")
require("onnx")


def saved_policy(tmp_path, env_id: str, **overrides):
    """A run directory with one checkpoint of a random policy for env_id, its weights pushed far
    from the near-uniform initial policy so that greedy actions vary and are seldom near a tie."""
    cfg = Config.for_env(env_id, progress=False, tensorboard=False, **overrides)
    env, spec = make_env_with_spec(cfg)
    dist = distribution_for(env.action_space, cfg.action_squash)
    env.close()
    torch.manual_seed(0)
    model = build_model(cfg, spec, dist)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.3 * torch.randn_like(param))
        if model.obs_norm is not None:  # statistics a run could have gathered
            model.obs_norm.mean.copy_(torch.randn_like(model.obs_norm.mean))
            model.obs_norm.var.copy_(torch.rand_like(model.obs_norm.var) + 0.5)
            model.obs_norm.count.fill_(1000)
    run = tmp_path / "run"
    save_checkpoint(run, model, {}, {"config": cfg.to_dict(), "counters": [1000, 10, 5]}, env_steps=1000)
    return run


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def feed(sess, obs, state=None):
    inputs = {"obs": obs}
    if state is not None:
        inputs.update(h=state[0].numpy(), c=state[1].numpy())
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, inputs), strict=True))


KINDS = {  # id: (env id, overrides)
    "categorical-mlp": ("CartPole-v1", {}),
    "categorical-lstm": ("CartPole-v1", {"recurrent": True}),
    "gaussian-clip-normalized": ("Pendulum-v1", {"normalize_obs": True}),
    "gaussian-tanh-lstm": ("Pendulum-v1", {"action_squash": "tanh", "recurrent": True}),
    "gaussian-matrix-actions": ("fakes:MatrixActionEnv", {"action_squash": "tanh"}),
    "uint8-frames-a3c-net": ("fakes:PixelCatch", {}),
    "minatar-lstm": ("MinAtar/Breakout-v1", {"recurrent": True}),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_onnx_gives_the_agents_greedy_actions_for_any_batch_size(kind, tmp_path):
    env_id, overrides = KINDS[kind]
    if env_id.startswith("MinAtar/"):
        require("minatar")
    run = saved_policy(tmp_path, env_id, **overrides)
    report = export_policy(run, tmp_path / "policy.onnx", observations=120)
    assert report.observations == 120 and report.outputs[0] == "action"
    agent = Agent.load(run)
    sess = session(tmp_path / "policy.onnx")
    assert [i.name for i in sess.get_inputs()] == (["obs", "h", "c"] if agent.model.recurrent else ["obs"])
    # Observations of other episodes than the export's check, in batches of two sizes.
    obs = play(agent, steps=40, seed=123).obs
    assert sess.get_inputs()[0].type == ("tensor(uint8)" if obs.dtype == np.uint8 else "tensor(float)")
    for batch in (obs[:1], obs[1:40]):
        agent.reset(len(batch))
        state = agent.state
        want = agent.act(batch)
        got = feed(sess, batch, state)
        assert got["action"].shape == want.shape and got["action"].dtype == want.dtype
        if agent.dist.__class__.__name__ == "Categorical":
            assert np.array_equal(got["action"], want)
        else:
            np.testing.assert_allclose(got["action"], want, atol=1e-5)
            low, high = agent.action_space.low, agent.action_space.high
            assert np.all(got["action"] >= low) and np.all(got["action"] <= high)
        if agent.model.recurrent:
            np.testing.assert_allclose(got["h_out"], agent.state[0].numpy(), atol=1e-5)
            np.testing.assert_allclose(got["c_out"], agent.state[1].numpy(), atol=1e-5)


@pytest.mark.parametrize("env_id, names", [("CartPole-v1", ["action", "logits", "value"]),
                                           ("Pendulum-v1", ["action", "mean", "log_std", "value"])])
def test_outputs_all_adds_the_distribution_and_the_value(env_id, names, tmp_path):
    run = saved_policy(tmp_path, env_id, recurrent=True)
    report = export_policy(run, tmp_path / "policy.onnx", outputs="all", observations=50)
    assert report.outputs == names + ["h_out", "c_out"]
    floats = names[1:] if env_id == "CartPole-v1" else names  # discrete actions are compared exactly
    assert list(report.differences) == floats + ["h_out", "c_out"] and report.max_abs_diff < 1e-4
    agent = Agent.load(run)
    obs = play(agent, steps=9, seed=5).obs
    state = agent.model.initial_state(len(obs))
    got = feed(session(tmp_path / "policy.onnx"), obs, state)
    assert list(got) == report.outputs
    with torch.no_grad():
        params, value, _ = agent.model(torch.from_numpy(obs), state)
    n = agent.dist.param_size if env_id == "CartPole-v1" else agent.dist.dim
    assert got["value"].shape == (9,) and got[names[1]].shape == (9, n)
    np.testing.assert_allclose(got["value"], value.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.concatenate([got[k] for k in names[1:-1]], axis=1), params.numpy(), atol=1e-5)


def test_the_recurrent_state_carries_across_steps_as_in_the_agent(tmp_path):
    run = saved_policy(tmp_path, "CartPole-v1", recurrent=True)
    export_policy(run, tmp_path / "policy.onnx", observations=50)
    sess = session(tmp_path / "policy.onnx")
    agent = Agent.load(run)
    env = make_env(agent.config)
    obs, _ = env.reset(seed=7)
    agent.reset()
    h = c = np.zeros((1, agent.model.lstm_size), dtype=np.float32)  # an episode starts from zeros
    for _ in range(25):
        action, h, c = sess.run(None, {"obs": obs[None], "h": h, "c": c})  # the state fed back
        assert int(action[0]) == agent.act(obs)
        np.testing.assert_allclose(h, agent.state[0].numpy(), atol=1e-5)
        np.testing.assert_allclose(c, agent.state[1].numpy(), atol=1e-5)
        obs, _, terminated, truncated, _ = env.step(int(action[0]))
        if terminated or truncated:
            break
    env.close()
    assert np.abs(h).max() > 0.1  # the state moved: not every step started from zeros


def test_a_mismatch_fails_the_export_and_writes_nothing(tmp_path, monkeypatch):
    import a3c.export

    run = saved_policy(tmp_path, "CartPole-v1")
    real_export = a3c.export._torch_export

    def broken_export(policy, example, path):  # a graph that always pushes right
        with torch.no_grad():
            policy.model.policy_head.bias += torch.tensor([0.0, 100.0])
        real_export(policy, example, path)

    monkeypatch.setattr(a3c.export, "_torch_export", broken_export)
    with pytest.raises(ExportCheckFailed, match=r"disagree on \d+ of 300 greedy actions"):
        export_policy(run, tmp_path / "policy.onnx")
    assert list(tmp_path.glob("policy.onnx*")) == []


def test_the_cli_exports_and_says_what_it_checked(tmp_path, capsys):
    run = saved_policy(tmp_path, "Pendulum-v1")
    out_file = tmp_path / "out" / "pendulum.onnx"
    assert main(["export", str(run), "-o", str(out_file), "--outputs", "all", "--observations", "120"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {out_file}" in out and "on 120 observations" in out
    assert "max abs difference" in out and "action, mean, log_std, value" in out
    import onnx

    props = {p.key: p.value for p in onnx.load(str(tmp_path / "out" / "pendulum.onnx")).metadata_props}
    assert props["a3c_env_id"] == "Pendulum-v1" and props["a3c_observation"] == "float32 [B, 3]"


def test_bad_inputs_exit_2(tmp_path, capsys, monkeypatch):
    assert main(["export", str(tmp_path / "no-such-run"), "-o", str(tmp_path / "p.onnx")]) == 2
    err = capsys.readouterr().err
    assert "no such run directory or checkpoint" in err and "Traceback" not in err
    run = saved_policy(tmp_path, "CartPole-v1")
    assert main(["export", str(run), "-o", str(tmp_path)]) == 2  # a directory, not a file
    assert "is a directory" in capsys.readouterr().err
    assert main(["export", str(run), "-o", str(tmp_path / "p.onnx"), "--observations", "0"]) == 2
    assert "--observations" in capsys.readouterr().err and not (tmp_path / "p.onnx").exists()
    with pytest.raises(SystemExit) as info:
        main(["export", str(run), "-o", str(tmp_path / "p.onnx"), "--outputs", "everything"])
    assert info.value.code == 2
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    assert main(["export", str(run), "-o", str(tmp_path / "p.onnx")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'a3c[onnx]'" in err and "'onnxruntime'" in err and "Traceback" not in err
    assert not (tmp_path / "p.onnx").exists()


def test_discrete_actions_may_differ_only_between_tied_logits(tmp_path):
    agent = Agent.load(saved_policy(tmp_path, "CartPole-v1"))
    policy = GreedyPolicy(agent.model, agent.dist, agent.action_space)
    played = play(agent, steps=20)

    class OtherAction:  # a runtime that picks the other of the two actions every time
        def run(self, names, inputs):
            return [1 - played.actions]

    with pytest.raises(ExportCheckFailed, match="disagree on 20 of 20 greedy actions"):
        check(OtherAction(), policy, played)
    with torch.no_grad():  # every logit equal: either action is the greedy one
        agent.model.policy_head.weight.zero_()
        agent.model.policy_head.bias.zero_()
    assert check(OtherAction(), policy, played) == ({}, 20)
