"""Figures over seeds, as the benchmarks report them: the interquartile mean (IQM) with a 95%
stratified-bootstrap interval from rliable (Agarwal et al., 2021), and the median.

The IQM is the mean of the middle half of the runs: it uses more of the data than the median and is
not carried away by one outlying seed as the mean is. With few seeds the interval is wide, and it is
printed so a reader sees how wide.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_REPS = 5000  # rliable's examples use 50,000 over many tasks; one task of 3-10 seeds settles well before


def over_seeds(values: Sequence[float], reps: int = BOOTSTRAP_REPS, seed: int = 0) -> dict[str, float | int]:
    """IQM, its 95% percentile-bootstrap interval and the median of one figure over seeds (one value per seed).

    rliable's IQM; the interval is what rliable's stratified bootstrap gives for one task (one
    stratum: a plain resampling of the runs), computed with arch's bootstrap, the library rliable
    itself delegates to. rliable 1.2's own wrapper passes arch a keyword (`random_state`) that arch
    8 no longer takes, and the arch releases that still take it do not import with pandas 3. The
    bootstrap is seeded, so the same data always renders the same page.
    """
    from arch.bootstrap import IIDBootstrap
    from rliable import metrics

    scores = np.asarray(values, dtype=float).reshape(-1, 1)  # rliable's layout: runs x tasks
    if scores.size == 0:
        raise ValueError("over_seeds needs at least one value")
    iqm = float(metrics.aggregate_iqm(scores))
    if scores.size == 1:
        low = high = iqm
    else:
        boot = IIDBootstrap(scores, seed=seed)
        interval = boot.conf_int(
            lambda s: np.array([metrics.aggregate_iqm(s)]), reps=reps, method="percentile", size=0.95
        )
        low, high = float(interval[0, 0]), float(interval[1, 0])
    return {
        "iqm": iqm,
        "iqm_ci_low": low,
        "iqm_ci_high": high,
        "median": float(np.median(scores)),
        "n": int(scores.size),
    }
