"""Statistics for accuracies and paired differences. Pure functions over arrays of 0/1 hits.

    wilson_interval(37, 50) -> (0.606, 0.841)
    mcnemar_exact(learned=9, forgotten=2) -> 0.065
    paired_bootstrap_delta(base, tuned, clusters) -> (delta, low, high)

Questions about one subject are not independent (a model that learned a subject tends to get all its fields),
so the bootstrap resamples subjects, not questions: intervals that treat them as independent are too narrow.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000


def wilson_interval(hits: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when there is nothing to measure."""
    if n == 0:
        return 0.0, 1.0
    interval = stats.binomtest(hits, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def mcnemar_exact(learned: int, forgotten: int) -> float:
    """Exact McNemar p: under no change, the discordant pairs split 50/50 (a two-sided binomial test)."""
    discordant = learned + forgotten
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(learned, discordant, 0.5).pvalue)


def paired_bootstrap_delta(before: np.ndarray, after: np.ndarray, clusters: np.ndarray, *,
                           resamples: int = BOOTSTRAP_RESAMPLES, confidence: float = CONFIDENCE,
                           seed: int = 0) -> tuple[float, float, float]:
    """Accuracy delta (after - before) with a percentile interval from a bootstrap that resamples clusters
    (subjects) with replacement and keeps each question's pair together."""
    before, after = np.asarray(before, float), np.asarray(after, float)
    if before.shape != after.shape or before.shape != np.shape(clusters):
        raise ValueError("before, after and clusters must be paired arrays of one length")
    n = before.size
    if n == 0:
        return 0.0, 0.0, 0.0
    delta = float(after.mean() - before.mean())
    _, cluster_index = np.unique(clusters, return_inverse=True)
    k = cluster_index.max() + 1
    diff_per_cluster = np.bincount(cluster_index, weights=after - before, minlength=k)
    size_per_cluster = np.bincount(cluster_index, minlength=k).astype(float)
    rng = np.random.default_rng(seed)
    # Each row draws k clusters with replacement; counts times per-cluster sums gives each resample's delta.
    # Drawn in blocks so that 25,000 subjects x 2,000 resamples never sits in memory at once.
    deltas = np.concatenate([
        (draws @ diff_per_cluster) / (draws @ size_per_cluster)
        for draws in (rng.multinomial(k, np.full(k, 1.0 / k), size=min(200, resamples - start))
                      for start in range(0, resamples, 200))
    ])
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return delta, float(low), float(high)
