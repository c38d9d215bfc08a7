import numpy as np
import pytest

from harness.statistics import mcnemar_exact, paired_bootstrap_delta, wilson_interval


@pytest.mark.parametrize("hits, n, low, high", [
    (37, 50, 0.6045, 0.8413),  # by hand: centre 0.7229, half-width 0.1184
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (0, 0, 0.0, 1.0),
])
def test_wilson_interval(hits, n, low, high):
    got = wilson_interval(hits, n)
    assert got == pytest.approx((low, high), abs=1e-3)


@pytest.mark.parametrize("learned, forgotten, p", [
    (0, 0, 1.0),
    (9, 2, 0.0654),
    (2, 9, 0.0654),
    (10, 0, 0.00195),
    (5, 5, 1.0),
])
def test_mcnemar_exact(learned, forgotten, p):
    assert mcnemar_exact(learned, forgotten) == pytest.approx(p, abs=1e-4)


def test_bootstrap_interval_contains_delta_and_is_seeded():
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(100), 5)
    before = rng.random(500) < 0.2
    after = before | (rng.random(500) < 0.5)
    delta, low, high = paired_bootstrap_delta(before, after, clusters, seed=3)
    assert delta == pytest.approx(after.mean() - before.mean())
    assert low < delta < high
    assert (delta, low, high) == paired_bootstrap_delta(before, after, clusters, seed=3)


def test_bootstrap_respects_clusters():
    """Five copies of each anime's outcome carry the information of one: a wider interval than if independent."""
    rng = np.random.default_rng(0)
    before = np.zeros(100)
    after = (rng.random(100) < 0.5).astype(float)
    _, low_i, high_i = paired_bootstrap_delta(before, after, np.arange(100))
    _, low_c, high_c = paired_bootstrap_delta(np.repeat(before, 5), np.repeat(after, 5), np.repeat(np.arange(100), 5))
    assert high_c - low_c == pytest.approx(high_i - low_i, rel=0.15)
    _, low_w, high_w = paired_bootstrap_delta(np.repeat(before, 5), np.repeat(after, 5), np.arange(500))
    assert high_w - low_w < 0.6 * (high_c - low_c)


def test_no_change_gives_zero_interval():
    hits = np.array([1, 0, 1, 1], float)
    assert paired_bootstrap_delta(hits, hits, np.arange(4)) == (0.0, 0.0, 0.0)


def test_bootstrap_rejects_unpaired():
    with pytest.raises(ValueError):
        paired_bootstrap_delta(np.zeros(3), np.zeros(4), np.arange(3))
