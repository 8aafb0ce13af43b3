"""kill -9 during checkpoint writes, 50 times: load_checkpoint always returns an intact one.

One subprocess imports torch once and forks a writer per kill: the writer saves checkpoints
in a loop (each tensor filled with its env_steps, so the contents can be checked against the
sidecar) and is SIGKILLed at a random moment; the parent then loads and checks."""

import json
import subprocess
import sys
import textwrap

import pytest

KILLS = 50

SCRIPT = textwrap.dedent('''
    import json, os, random, signal, sys, time
    import torch
    torch.set_num_threads(1)  # a forked child must not wait on the parent's intra-op thread pool
    from a3c.checkpoint import load_checkpoint, save_checkpoint
    run_dir, kills = sys.argv[1], int(sys.argv[2])
    rng = random.Random(12)
    model = torch.nn.Linear(256, 512)  # ~0.5 MB of weights: a write takes long enough to be hit
    optim = {"0.exp_avg": torch.zeros(512, 256)}
    steps, checked = 0, 0
    with torch.no_grad():
        model.weight.fill_(0); model.bias.fill_(0)
    save_checkpoint(run_dir, model, optim, dict(counters=[0, 0, 0]), 0)  # as a run does at its start
    for kill in range(kills):
        pid = os.fork()
        if pid == 0:
            n = steps
            while True:
                n += 1
                with torch.no_grad():
                    model.weight.fill_(n); model.bias.fill_(n)
                optim["0.exp_avg"].fill_(n)
                save_checkpoint(run_dir, model, optim, dict(counters=[n, n, n]), n)
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sidecar, model_t, optim_t = load_checkpoint(run_dir)  # raises if none is intact
        n = sidecar["counters"][0]
        assert n >= steps, (n, steps)  # never older than the one found after the kill before
        assert bool((model_t["weight"] == n).all()) and bool((optim_t["0.exp_avg"] == n).all()), n
        steps, checked = n, checked + 1
    print(json.dumps(dict(kills=kills, checked=checked, final_steps=steps)))
''')


@pytest.mark.slow
def test_kill_9_during_checkpoint_writes_never_leaves_a_half_checkpoint_loaded(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), str(KILLS)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["checked"] == KILLS and figures["final_steps"] > 0
    print(f"\n[kill during checkpoint writes] kills={KILLS} intact loads={figures['checked']} lost=0")
