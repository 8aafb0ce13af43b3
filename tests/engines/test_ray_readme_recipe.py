"""The README's multi-node recipe, run as written: `ray start --head`, `ray start --address`,
`a3c train --backend ray --ray-address HEAD_IP:6379`, `ray stop`.

Two nodes on one machine need an address that is not loopback (`ray start --address` refuses
loopback clusters), so the recipe runs in namespaces the test makes: a network namespace with
only `lo`, carrying a private address as HEAD_IP, and a PID namespace, so `ray stop` sees (and
stops) nothing but this recipe's Ray, and every process it started ends with the namespace.

(That the README's recipe has every step: unit/test_readme.py.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


HEAD_IP = "10.200.0.1"  # exists only inside the test's network namespace


# A new user namespace (root inside it may configure its network), network and PID namespaces.
NAMESPACES = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--mount-proc"]


def recipe_commands() -> list[str]:
    """The shell lines of the README block after its `<!-- cluster recipe -->` marker."""
    text = README.read_text()
    block = re.search(r"<!-- cluster recipe -->\s*```\n(.*?)```", text, re.S)
    assert block, "README.md has no cluster recipe block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def _namespaces_work() -> bool:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = [*NAMESPACES, "ip", "link", "set", "lo", "up"]
    return subprocess.run(probe, capture_output=True).returncode == 0


@pytest.mark.slow
def test_the_readme_cluster_recipe_trains_on_two_nodes(tmp_path):
    pytest.importorskip("ray")
    if not _namespaces_work():
        if os.environ.get("CI"):
            pytest.fail("CI must run the cluster recipe: unshare (user, net and pid namespaces) and ip are needed")
        pytest.skip("no user/net/pid namespaces here (unshare, ip)")
    run = tmp_path / "run"
    lines = []
    for command in recipe_commands():
        command = command.replace("HEAD_IP", HEAD_IP).replace("--num-cpus=8", "--num-cpus=1")
        if command.startswith("a3c train"):
            command = command.replace("--workers 16", "--workers 2")
            command += f" --seed 0 --total-steps 600000 --run-dir {run} --set progress=false"
        lines.append(command)
    script = "\n".join(
        [
            "set -ex",
            "ip link set lo up",
            # HEAD_IP on lo and a default route through it: Ray finds its node address by the
            # route out, and here the only way out leads back in.
            f"ip addr add {HEAD_IP}/32 dev lo",
            f"ip route add default dev lo src {HEAD_IP}",
            *lines,
        ]
    )
    env = dict(os.environ)
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # that flag refuses `ray start --address`
    # Short: Ray's socket paths under it must fit in 107 bytes.
    env["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="rr", dir="/tmp" if os.path.isdir("/tmp") else None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])  # ray and a3c of this venv
    try:
        result = subprocess.run(
            [*NAMESPACES, "bash", "-c", script],
            capture_output=True, text=True, env=env, timeout=420,
        )
    finally:
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["solved"], summary
    assert summary["engine"]["env_runners"] == 2 and summary["engine"]["nodes"] == 2, summary
    assert "ray: 2 env runners on 2 node(s)" in (run / "events.log").read_text()
