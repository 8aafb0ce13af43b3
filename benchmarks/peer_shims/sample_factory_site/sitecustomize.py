"""Registers ale-py's games with Gymnasium in every process of a Sample Factory run.

Sample Factory's Atari example makes PongNoFrameskip-v4 in spawned worker processes; ale-py
0.12 registers its games itself only under Gymnasium 1.x, so benchmarks/peers.py puts this directory on
PYTHONPATH and Python imports this file at the start of each process.
"""

try:
    from ale_py import registration
except ImportError:  # not the Sample Factory environment: nothing to register
    registration = None
if registration is not None:  # ale-py 0.12 registers nothing itself under Gymnasium 0.29
    registration.register_v0_v4_envs()
    registration.register_v5_envs()
