"""The fidelity benchmark's ratios and intervals on hand-made rounds (engine/bench/ratios.py)."""

import math

import pytest

from engine.bench.ratios import ratio_interval, t975


def test_interval_on_known_rounds():
    # Per-round ratios e^0.1, 1, e^-0.1: logs of mean 0 and sd 0.1; t(0.975, 2) = 4.303.
    theirs = [100.0, 200.0, 50.0]
    ours = [100.0 * math.exp(0.1), 200.0, 50.0 * math.exp(-0.1)]
    ri = ratio_interval(ours, theirs)
    assert ri.ratios == pytest.approx((math.exp(0.1), 1.0, math.exp(-0.1)))
    assert ri.mean == pytest.approx(1.0)
    half = 4.303 * 0.1 / math.sqrt(3)
    assert ri.low == pytest.approx(math.exp(-half)) and ri.high == pytest.approx(math.exp(half))
    assert ri.spans_one is True and ri.text() == "1.00 (0.78-1.28)"


def test_a_steady_lead_leaves_one_and_the_inverse_mirrors():
    ours, theirs = [110.0, 112.0, 111.0, 109.0], [100.0, 100.0, 100.0, 100.0]
    ri = ratio_interval(ours, theirs)
    assert ri.spans_one is False and 1.0 < ri.low < ri.mean < ri.high < 1.13
    back = ratio_interval(theirs, ours)
    assert back.low == pytest.approx(1 / ri.high) and back.high == pytest.approx(1 / ri.low)


def test_one_round_gives_no_interval_and_bad_input_is_refused():
    ri = ratio_interval([2.0], [1.0])
    assert ri.mean == 2.0 and ri.low is None and ri.spans_one is None and "no interval" in ri.text()
    with pytest.raises(ValueError, match="paired rounds"):
        ratio_interval([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        ratio_interval([0.0], [1.0])
    assert t975(1) == 12.706 and t975(30) == 2.042 and t975(100) == 1.96
