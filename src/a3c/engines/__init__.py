"""Engines: how experience and gradients move between processes. Plumbing only; the
math they run lives in returns.py, loss.py and distributions.py."""
