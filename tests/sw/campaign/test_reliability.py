"""Fault-injection statistics: sample sizes and intervals against hand computations and
published values, fault lists checked statistically over seeds, and every refusal."""

import math
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from sw.campaign.reliability import (cross_section, exhaustive_bits, fixed_flips,
                            mean_with_interval, poisson_interval, proportion_interval,
                            sample_size, seu_schedule, time_to_failure, upset_rate)

MEMS = [{"name": "weights", "words": 64, "width": 13, "sigma": 2e-14},
        {"name": "state", "words": 16, "width": 39, "sigma": 5e-14}]


def leveugle(N, e, confidence, p):
    """The formula of Leveugle et al. (DATE 2009), t from the standard library."""
    t = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    return math.ceil(N / (1 + e ** 2 * (N - 1) / (t ** 2 * p * (1 - p))))


# ---------------------------------------------------------------------------------------
# sample size


def test_sample_size_matches_the_formula():
    # t = 2.5758: infinite-population size 16587.2; 1e6 / (1 + 999999 / 16587.2) = 16316.6
    assert sample_size(10**6) == leveugle(10**6, 0.01, 0.99, 0.5) == 16317
    for N, e, c, p in [(1000, 0.05, 0.95, 0.5), (123_456, 0.02, 0.9, 0.2),
                       (2**20 * 100, 0.01, 0.999, 0.5), (50, 0.1, 0.8, 0.3)]:
        assert sample_size(N, e, c, p) == leveugle(N, e, c, p)


def test_sample_size_published_values_and_limits():
    assert sample_size(None, margin=0.05, confidence=0.95) == 385   # the classic 385
    assert sample_size(None) == math.ceil(NormalDist().inv_cdf(0.995) ** 2 / 4 / 1e-4)
    assert sample_size(10**15, 0.05, 0.95) == 385                  # ~ infinite
    assert sample_size(1) == 1
    assert sample_size(100, margin=0.001) <= 100
    assert sample_size(10**6, p=0.1) < sample_size(10**6)          # 0.5 is the worst case
    sizes = [sample_size(N) for N in (10**3, 10**4, 10**5, 10**6, None)]
    assert sizes == sorted(sizes)


# ---------------------------------------------------------------------------------------
# intervals


def test_clopper_pearson_known_values():
    low, high = proportion_interval(0, 10)
    assert low == 0 and high == pytest.approx(0.3085, abs=1e-4)
    assert high == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-9)      # closed form
    low, high = proportion_interval(10, 10)
    assert high == 1 and low == pytest.approx(0.025 ** (1 / 10), rel=1e-9)
    low, high = proportion_interval(5, 10)
    assert (low, high) == pytest.approx((0.1871, 0.8129), abs=1e-4)
    low, high = proportion_interval(0, 10, confidence=0.9)
    assert high == pytest.approx(1 - 0.05 ** (1 / 10), rel=1e-9)
    # each bound puts alpha/2 in its tail
    low, high = proportion_interval(7, 40, 0.99)
    assert stats.binom.sf(6, 40, low) == pytest.approx(0.005, rel=1e-6)
    assert stats.binom.cdf(7, 40, high) == pytest.approx(0.005, rel=1e-6)


def test_garwood_known_values():
    assert poisson_interval(0) == pytest.approx((0, 3.689), abs=1e-3)
    assert poisson_interval(0)[1] == pytest.approx(-math.log(0.025), rel=1e-9)
    assert poisson_interval(0)[0] == 0
    assert poisson_interval(10) == pytest.approx((4.795, 18.39), abs=1e-3)
    assert poisson_interval(1) == pytest.approx((0.0253, 5.572), abs=1e-3)
    low, high = poisson_interval(3, confidence=0.9)
    assert stats.poisson.sf(2, low) == pytest.approx(0.05, rel=1e-6)
    assert stats.poisson.cdf(3, high) == pytest.approx(0.05, rel=1e-6)


def test_mean_with_interval():
    mean, low, high = mean_with_interval([1, 2, 3, 4])
    # s = 1.29099, t(0.975, 3) = 3.18245: half-width 3.18245 * 1.29099 / 2 = 2.05426
    assert (mean, low, high) == pytest.approx((2.5, 0.44574, 4.55426), abs=1e-5)
    assert mean_with_interval(np.array([0.7])) == (0.7, 0.7, 0.7)
    assert mean_with_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    wide = mean_with_interval([1, 2, 3, 4], confidence=0.99)
    assert wide[1] < low and wide[2] > high


# ---------------------------------------------------------------------------------------
# beam tests


def test_cross_section_scales_the_poisson_limits():
    cs = cross_section(10, fluence=1e11, bits=2**20)
    exposure = 1e11 * 2**20
    low, high = poisson_interval(10)
    assert cs["sigma"] == pytest.approx(10 / exposure)
    assert (cs["low"], cs["high"]) == pytest.approx((low / exposure, high / exposure))
    assert cs["low"] < cs["sigma"] < cs["high"]
    assert (cs["upsets"], cs["fluence"], cs["bits"], cs["confidence"]) == \
        (10, 1e11, 2**20, 0.95)
    zero = cross_section(0, 1e10, 1000, confidence=0.9)
    assert zero["sigma"] == 0 and zero["low"] == 0
    assert zero["high"] == pytest.approx(-math.log(0.1) / 1e13)
    # twice the bits, half the cross-section
    assert cross_section(10, 1e11, 2**21)["high"] == pytest.approx(cs["high"] / 2)


def test_upset_rate():
    assert upset_rate(1e-14, 1e7, 10**6) == pytest.approx(0.1)
    assert upset_rate(0.0, 1e7, 10) == 0
    assert upset_rate(1e-14, 1e7, 0) == 0


# ---------------------------------------------------------------------------------------
# fault lists


def test_seu_schedule_mean_count_matches_the_expectation():
    flux, duration = 1e9, 40.0
    expected = sum(upset_rate(m["sigma"], flux, m["words"] * m["width"]) * duration
                   for m in MEMS)                                      # 0.67 + 1.25
    per_memory = {m["name"]: m["sigma"] * flux * m["words"] * m["width"] * duration
                  for m in MEMS}
    seeds = 600
    counts, by_memory = [], {m["name"]: 0 for m in MEMS}
    for seed in range(seeds):
        ups = seu_schedule(np.random.default_rng(seed), MEMS, flux, duration)
        counts.append(len(ups))
        for u in ups:
            by_memory[u["memory"]] += 1
    se = math.sqrt(expected / seeds)
    assert abs(np.mean(counts) - expected) < 4 * se
    for name, lam in per_memory.items():
        assert abs(by_memory[name] / seeds - lam) < 4 * math.sqrt(lam / seeds)
    assert np.var(counts, ddof=1) == pytest.approx(expected, rel=0.25)   # Poisson


def test_seu_schedule_format_order_and_determinism():
    rng = np.random.default_rng(7)
    ups = seu_schedule(rng, MEMS, 1e9, 2000.0)                           # ~ 96
    assert len(ups) > 50
    times = [u["time"] for u in ups]
    assert times == sorted(times) and all(0 <= t < 2000.0 for t in times)
    widths = {m["name"]: (m["words"], m["width"]) for m in MEMS}
    for u in ups:
        assert set(u) == {"time", "fluence", "memory", "word", "bit", "mask", "bits"}
        words, width = widths[u["memory"]]
        assert 0 <= u["word"] < words and 0 <= u["bit"] < width
        assert u["mask"] == 1 << u["bit"] and u["bits"] == 1
        assert u["fluence"] == pytest.approx(1e9 * u["time"])
        assert all(type(u[k]) is int for k in ("word", "bit", "mask", "bits"))
    again = seu_schedule(np.random.default_rng(7), MEMS, 1e9, 2000.0)
    assert again == ups
    assert seu_schedule(np.random.default_rng(8), MEMS, 1e9, 2000.0) != ups
    assert seu_schedule(rng, MEMS, 0.0, 400.0) == []
    assert seu_schedule(rng, MEMS, 1e9, 0.0) == []
    assert seu_schedule(rng, [], 1e9, 400.0) == []


def test_seu_schedule_multiple_bit_upsets():
    mbu = {2: 0.3, 3: 0.1}
    mems = [{"name": "m", "words": 32, "width": 8, "sigma": 1e-7}]
    ups = seu_schedule(np.random.default_rng(3), mems, 1e7, 10.0, mbu=mbu)  # ~ 2560
    assert len(ups) > 2000
    requested = []
    for u in ups:
        mask, b, k = u["mask"], u["bit"], u["bits"]
        assert mask == ((1 << k) - 1) << b          # k adjacent bits from the lowest
        assert bin(mask).count("1") == k and mask >> 8 == 0   # within the word
        assert 1 <= k <= 3
        requested.append(k)
    counts = np.bincount(requested, minlength=4)[1:]
    # clipping moves some 2s and 3s down: the bit hit is uniform over 0..7, so a
    # 2-bit upset is clipped with probability 1/8 and a 3-bit one with 2/8
    p = np.array([0.6 + 0.3 / 8 + 0.1 / 8, 0.3 * 7 / 8 + 0.1 / 8, 0.1 * 6 / 8])
    assert stats.chisquare(counts, p * len(ups)).pvalue > 1e-4
    # a one-bit-wide memory can only take single-bit upsets
    narrow = [{"name": "n", "words": 100, "width": 1, "sigma": 1e-7}]
    ups = seu_schedule(np.random.default_rng(4), narrow, 1e7, 10.0, mbu={4: 1.0})
    assert ups and all(u["mask"] == 1 and u["bits"] == 1 for u in ups)
    # probabilities summing to exactly 1 leave no single-bit upsets in a wide word
    wide = [{"name": "w", "words": 4, "width": 64, "sigma": 1e-7}]
    ups = seu_schedule(np.random.default_rng(5), wide, 1e7, 10.0, mbu={2: 0.5, 3: 0.5})
    assert ups and all(u["bits"] in (2, 3) or u["bit"] == 63 for u in ups)


def test_fixed_flips_count_distinct_and_uniform():
    mems = [{"name": "a", "words": 100, "width": 10},            # 1000 bits
            {"name": "b", "words": 300, "width": 10, "sigma": 1.0}]   # 3000 bits
    flips = fixed_flips(np.random.default_rng(0), mems, 200)
    assert len(flips) == 200
    assert len({(u["memory"], u["word"], u["bit"]) for u in flips}) == 200
    assert all(u["time"] == 0 and u["fluence"] == 0 and u["bits"] == 1
               and u["mask"] == 1 << u["bit"] for u in flips)
    assert flips == fixed_flips(np.random.default_rng(0), mems, 200)
    in_a, words_b = 0, np.zeros(3, np.int64)
    for seed in range(50):
        for u in fixed_flips(np.random.default_rng(seed), mems, 200):
            if u["memory"] == "a":
                assert 0 <= u["word"] < 100 and 0 <= u["bit"] < 10
                in_a += 1
            else:
                assert 0 <= u["word"] < 300 and 0 <= u["bit"] < 10
                words_b[u["word"] // 100] += 1
    total = 50 * 200
    assert stats.chisquare([in_a, total - in_a], [total / 4, 3 * total / 4]).pvalue > 1e-4
    assert stats.chisquare(words_b).pvalue > 1e-4               # thirds of b equally hit
    # every bit, and none
    every = fixed_flips(np.random.default_rng(1), mems[:1], 1000)
    assert every == exhaustive_bits(mems[0])
    assert fixed_flips(np.random.default_rng(1), mems, 0) == []


def test_exhaustive_bits():
    mem = {"name": "syn", "words": 5, "width": 7}
    flips = exhaustive_bits(mem)
    assert len(flips) == 35
    assert len({(u["word"], u["bit"]) for u in flips}) == 35
    assert [(u["word"], u["bit"]) for u in flips[:8]] == \
        [(0, b) for b in range(7)] + [(1, 0)]
    assert flips[-1] == {"time": 0.0, "fluence": 0.0, "memory": "syn", "word": 4,
                         "bit": 6, "mask": 64, "bits": 1}


# ---------------------------------------------------------------------------------------
# analysis


def test_time_to_failure():
    times = [0.0, 10.0, 20.0, 30.0]
    assert time_to_failure(times, [0.95, 0.93, 0.80, 0.97], 0.9) == 20.0
    assert time_to_failure(times, [0.95, 0.9, 0.91, 0.92], 0.9) is None   # strictly below
    assert time_to_failure(times, [0.5, 0.9, 0.9, 0.9], 0.9) == 0.0
    assert time_to_failure(np.array([1, 1, 2]), np.array([1.0, 0.1, 0.1]), 0.5) == 1.0
    assert time_to_failure([], [], 0.5) is None


# ---------------------------------------------------------------------------------------
# refusals

RNG = np.random.default_rng(0)
GOOD = {"name": "m", "words": 4, "width": 8, "sigma": 1e-14}

ERRORS = [
    (lambda: sample_size(0), "population must be an integer >= 1, not 0"),
    (lambda: sample_size(1e6), "population must be an integer >= 1, not 1000000.0"),
    (lambda: sample_size(100, margin=0), r"margin must be in \(0, 1\), not 0"),
    (lambda: sample_size(100, confidence=1.5), r"confidence must be in \(0, 1\), not 1.5"),
    (lambda: sample_size(100, p=1), r"p must be in \(0, 1\), not 1"),
    (lambda: sample_size(100, p="half"), r"p must be in \(0, 1\), not 'half'"),
    (lambda: proportion_interval(3, 0), "n must be an integer >= 1, not 0"),
    (lambda: proportion_interval(-1, 10), "k must be an integer >= 0, not -1"),
    (lambda: proportion_interval(11, 10), "k must be at most n = 10, not 11"),
    (lambda: proportion_interval(2.5, 10), "k must be an integer >= 0, not 2.5"),
    (lambda: proportion_interval(1, 10, 0.0), r"confidence must be in \(0, 1\), not 0.0"),
    (lambda: poisson_interval(-2), "k must be an integer >= 0, not -2"),
    (lambda: poisson_interval(True), "k must be an integer >= 0, not True"),
    (lambda: poisson_interval(3, 1), r"confidence must be in \(0, 1\), not 1"),
    (lambda: cross_section(-1, 1e10, 8), "upsets must be an integer >= 0, not -1"),
    (lambda: cross_section(1, 0, 8), "fluence must be a finite number > 0, not 0"),
    (lambda: cross_section(1, math.inf, 8), "fluence must be a finite number > 0, not inf"),
    (lambda: cross_section(1, 1e10, 0), "bits must be an integer >= 1, not 0"),
    (lambda: cross_section(1, 1e10, 8, 2), r"confidence must be in \(0, 1\), not 2"),
    (lambda: upset_rate(-1e-14, 1e7, 8), "sigma must be a finite number >= 0, not -1e-14"),
    (lambda: upset_rate(1e-14, math.nan, 8), "flux must be a finite number >= 0, not nan"),
    (lambda: upset_rate(1e-14, 1e7, -8), "bits must be an integer >= 0, not -8"),
    (lambda: seu_schedule(RNG, [GOOD], -1.0, 1.0),
     "flux must be a finite number >= 0, not -1.0"),
    (lambda: seu_schedule(RNG, [GOOD], 1.0, -5),
     "duration must be a finite number >= 0, not -5"),
    (lambda: seu_schedule(RNG, GOOD, 1.0, 1.0),
     "memories must be a list of memory dicts, not dict"),
    (lambda: seu_schedule(RNG, [("m", 4, 8)], 1.0, 1.0),
     "memories\\[0\\] must be a dict with 'name', 'words' and 'width', not tuple"),
    (lambda: seu_schedule(RNG, [{"name": "m", "words": 4, "width": 8}], 1.0, 1.0),
     "memories\\[0\\] has no 'sigma' \\(it needs name, words, width, sigma\\)"),
    (lambda: seu_schedule(RNG, [GOOD, {**GOOD, "width": 0}], 1.0, 1.0),
     r"memories\[1\]\['width'\] must be an integer >= 1, not 0"),
    (lambda: seu_schedule(RNG, [{**GOOD, "words": 2.0}], 1.0, 1.0),
     r"memories\[0\]\['words'\] must be an integer >= 1, not 2.0"),
    (lambda: seu_schedule(RNG, [{**GOOD, "sigma": -1.0}], 1.0, 1.0),
     r"memories\[0\]\['sigma'\] must be a finite number >= 0, not -1.0"),
    (lambda: seu_schedule(RNG, [{**GOOD, "name": 3}], 1.0, 1.0),
     r"memories\[0\]\['name'\] must be a str, not 3"),
    (lambda: seu_schedule(RNG, [GOOD, GOOD], 1.0, 1.0),
     "memories: the name 'm' is used more than once"),
    (lambda: seu_schedule(RNG, [GOOD], 1.0, 1.0, mbu=[0.1]),
     r"mbu must be a dict \{multiplicity: probability\}, not list"),
    (lambda: seu_schedule(RNG, [GOOD], 1.0, 1.0, mbu={1: 0.1}),
     "mbu multiplicities must be integers >= 2, not 1"),
    (lambda: seu_schedule(RNG, [GOOD], 1.0, 1.0, mbu={2: 1.5}),
     r"mbu\[2\] must be a probability in \[0, 1\], not 1.5"),
    (lambda: seu_schedule(RNG, [GOOD], 1.0, 1.0, mbu={2: -0.1}),
     r"mbu\[2\] must be a probability in \[0, 1\], not -0.1"),
    (lambda: seu_schedule(RNG, [GOOD], 1.0, 1.0, mbu={2: 0.7, 3: 0.5}),
     "mbu probabilities must sum to at most 1, not 1.2"),
    (lambda: fixed_flips(RNG, [GOOD], -1), "count must be an integer >= 0, not -1"),
    (lambda: fixed_flips(RNG, [GOOD], 33),
     "count must be at most the 32 bits of the memories, not 33"),
    (lambda: exhaustive_bits({"name": "m", "words": 0, "width": 8}),
     r"memory\['words'\] must be an integer >= 1, not 0"),
    (lambda: exhaustive_bits({"words": 1, "width": 8}),
     r"memory has no 'name' \(it needs name, words, width\)"),
    (lambda: time_to_failure([[0, 1]], [[1, 1]], 0.5),
     r"times must be 1-D, not shape \(1, 2\)"),
    (lambda: time_to_failure([0, 1], [1.0], 0.5),
     r"accuracies must have the shape of times \(2,\), not \(1,\)"),
    (lambda: time_to_failure([0, 1], [1.0, math.nan], 0.5),
     "times and accuracies must be finite, not contain NaN or infinity"),
    (lambda: time_to_failure([1, 0], [1.0, 1.0], 0.5), "times must be non-decreasing"),
    (lambda: time_to_failure([0, 1], [1.0, 1.0], None),
     "threshold must be a finite number, not None"),
    (lambda: mean_with_interval([]),
     r"values must be a non-empty 1-D sequence, not shape \(0,\)"),
    (lambda: mean_with_interval([1.0, math.inf]),
     "values must be finite, not contain NaN or infinity"),
    (lambda: mean_with_interval([1.0, 2.0], -0.5),
     r"confidence must be in \(0, 1\), not -0.5"),
]


@pytest.mark.parametrize("call, message", ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_value_errors_name_the_parameter_and_value(call, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        call()


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        seu_schedule(0, [GOOD], 1.0, 1.0)
    with pytest.raises(TypeError, match="not RandomState"):
        fixed_flips(np.random.RandomState(0), [GOOD], 1)
