"""Statistics for radiation-style fault-injection campaigns (NumPy and SciPy only).

Planning a campaign
    :func:`sample_size` is the statistical fault-injection sample size of Leveugle et
    al. (DATE 2009, "Statistical fault injection: quantified error and confidence"):
    how many faults to draw, uniformly and without replacement, from a population of
    ``N`` possible faults (for example stored bits x injection times) so that the
    observed failure proportion lies within ``margin`` of the true one with the given
    confidence.

Confidence intervals
    :func:`proportion_interval` (exact Clopper-Pearson, for "k of n injections
    failed"), :func:`poisson_interval` (exact Garwood, for "k upsets counted"),
    :func:`mean_with_interval` (Student t, for a mean over repeated runs).

Beam tests
    :func:`cross_section` turns a logged upset count, the fluence (particles/cm^2) and
    the number of exposed bits into a per-bit SEU cross-section (cm^2/bit) with its
    Poisson limits; :func:`upset_rate` turns a cross-section and a flux
    (particles/cm^2/s) into an expected upset rate (upsets/s).

Fault lists
    :func:`seu_schedule` (a Poisson process of particle hits, optionally with
    multiple-bit upsets), :func:`fixed_flips` (a given number of distinct single-bit
    flips) and :func:`exhaustive_bits` (every single-bit flip of one memory) all return
    a list of upsets, each a dict::

        {"time": float, "fluence": float, "memory": str, "word": int, "bit": int,
         "mask": int, "bits": int}

    ``time`` in seconds from the start of the exposure, ``fluence`` the particles/cm^2
    received by then (``flux * time``), ``word`` the address, ``bit`` the lowest
    flipped bit, ``mask`` the flipped bits of the stored word (the value to XOR into
    it, as :meth:`sim.golden.fault_sram.GoldenFaultSRAM.inject` takes it with
    ``FLIP``, or the driver's ``fault(name, addr, kind, mask)``) and
    ``bits`` how many there are (``mask`` has ``bits`` ones).

    A memory is described by a dict ``{"name": str, "words": int, "width": int}``
    (``width`` = stored bits per word, check bits included), plus ``"sigma": float``
    (cm^2/bit) for :func:`seu_schedule`. Other keys are ignored.

Analysis
    :func:`time_to_failure` finds when an accuracy trace first drops below a threshold.

Randomness always comes from a :class:`numpy.random.Generator` passed in by the
caller; the same generator state gives the same result. Invalid arguments raise
``ValueError`` naming the parameter and its value (``TypeError`` for an ``rng`` that is
not a Generator).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping

import numpy as np
from scipy import stats

__all__ = [
    "sample_size",
    "proportion_interval",
    "poisson_interval",
    "cross_section",
    "upset_rate",
    "seu_schedule",
    "fixed_flips",
    "exhaustive_bits",
    "time_to_failure",
    "mean_with_interval",
]


# ---------------------------------------------------------------------------------------
# argument checks


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_))


def _check_int(name: str, value, minimum: int = 0) -> int:
    if not _is_int(value):
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value}")
    return int(value)


def _check_real(name: str, value, *, positive: bool = False) -> float:
    """A finite real number, ``>= 0`` (``> 0`` when ``positive``)."""
    bound = "> 0" if positive else ">= 0"
    if not _is_real(value):
        raise ValueError(f"{name} must be a finite number {bound}, not {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be a finite number {bound}, not {value}")
    return v


def _check_open_unit(name: str, value) -> float:
    """A real number in the open interval (0, 1)."""
    if not _is_real(value):
        raise ValueError(f"{name} must be in (0, 1), not {value!r}")
    v = float(value)
    if not 0 < v < 1:
        raise ValueError(f"{name} must be in (0, 1), not {value}")
    return v


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator "
                        f"(numpy.random.default_rng(seed)), not {type(rng).__name__}")
    return rng


def _check_memory(memory, where: str, *, sigma: bool = False) -> tuple:
    """``(name, words, width[, sigma])`` of a memory dict, checked."""
    if not isinstance(memory, Mapping):
        raise ValueError(f"{where} must be a dict with 'name', 'words' and 'width', "
                         f"not {type(memory).__name__}")
    keys = ("name", "words", "width") + (("sigma",) if sigma else ())
    for key in keys:
        if key not in memory:
            raise ValueError(f"{where} has no {key!r} (it needs {', '.join(keys)})")
    name = memory["name"]
    if not isinstance(name, str):
        raise ValueError(f"{where}['name'] must be a str, not {name!r}")
    words = _check_int(f"{where}['words']", memory["words"], 1)
    width = _check_int(f"{where}['width']", memory["width"], 1)
    if sigma:
        return name, words, width, _check_real(f"{where}['sigma']", memory["sigma"])
    return name, words, width


def _check_memories(memories, *, sigma: bool = False) -> list[tuple]:
    if isinstance(memories, Mapping) or not isinstance(memories, (list, tuple)):
        raise ValueError(f"memories must be a list of memory dicts, "
                         f"not {type(memories).__name__}")
    checked = [_check_memory(m, f"memories[{i}]", sigma=sigma)
               for i, m in enumerate(memories)]
    seen = set()
    for name, *_ in checked:
        if name in seen:
            raise ValueError(f"memories: the name {name!r} is used more than once")
        seen.add(name)
    return checked


def _check_mbu(mbu) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicities (1 first) and their probabilities, summing to 1."""
    if mbu is None:
        return np.array([1]), np.array([1.0])
    if not isinstance(mbu, Mapping):
        raise ValueError(f"mbu must be a dict {{multiplicity: probability}}, "
                         f"not {type(mbu).__name__}")
    sizes, probs = [1], []
    for m, prob in mbu.items():
        if not _is_int(m) or m < 2:
            raise ValueError(f"mbu multiplicities must be integers >= 2, not {m!r}")
        if not _is_real(prob) or not 0 <= float(prob) <= 1:
            raise ValueError(f"mbu[{m}] must be a probability in [0, 1], not {prob!r}")
        sizes.append(int(m))
        probs.append(float(prob))
    total = math.fsum(probs)
    if total > 1 + 1e-12:
        raise ValueError(f"mbu probabilities must sum to at most 1, not {total:g}")
    p = np.array([max(0.0, 1.0 - total)] + probs)
    return np.array(sizes), p / p.sum()


def _upset(time: float, flux: float, memory: str, word: int, bit: int,
           bits: int = 1) -> dict:
    return {"time": float(time), "fluence": float(flux * time), "memory": memory,
            "word": int(word), "bit": int(bit), "mask": ((1 << bits) - 1) << int(bit),
            "bits": int(bits)}


# ---------------------------------------------------------------------------------------
# campaign planning and intervals


def sample_size(population: int | None, margin: float = 0.01, confidence: float = 0.99,
                p: float = 0.5) -> int:
    """Statistical fault-injection sample size (Leveugle et al., DATE 2009).

    .. math:: n = \\frac{N}{1 + e^2 \\frac{N - 1}{t^2 p (1 - p)}}

    rounded up, with ``t`` the two-sided standard-normal quantile of ``confidence``
    (``t = 2.5758`` at 99 %). For an infinite population ``n = t^2 p (1 - p) / e^2``.

    Parameters
    ----------
    population : int or None
        ``N``, the number of possible faults (for example stored bits x injection
        times), at least 1; ``None`` for an infinite population.
    margin : float
        ``e``, the error margin on the estimated failure proportion, as a fraction in
        (0, 1) (0.01 = one percentage point).
    confidence : float
        Confidence level in (0, 1).
    p : float
        Expected failure proportion in (0, 1); 0.5, the default, is the worst case
        (largest sample).

    Returns
    -------
    int
        Number of faults to inject, between 1 and ``population``.
    """
    if population is not None:
        population = _check_int("population", population, 1)
    e = _check_open_unit("margin", margin)
    c = _check_open_unit("confidence", confidence)
    p = _check_open_unit("p", p)
    t = stats.norm.ppf(0.5 + c / 2)
    infinite = t * t * p * (1 - p) / (e * e)
    if population is None:
        n = infinite
    else:
        n = population / (1 + (population - 1) / infinite)
    # Round up, but do not let a floating-point hair above an integer add one.
    n = max(1, math.ceil(n * (1 - 1e-12)))
    return n if population is None else min(n, population)


def proportion_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided confidence interval on a binomial proportion.

    Parameters
    ----------
    k : int
        Successes (for example injections that caused a failure), ``0 <= k <= n``.
    n : int
        Trials, at least 1.
    confidence : float
        Confidence level in (0, 1).

    Returns
    -------
    (float, float)
        Lower and upper bounds on the proportion (dimensionless). The lower bound is
        0 when ``k = 0`` and the upper bound 1 when ``k = n``; otherwise each tail
        holds ``(1 - confidence) / 2``.
    """
    n = _check_int("n", n, 1)
    k = _check_int("k", k, 0)
    if k > n:
        raise ValueError(f"k must be at most n = {n}, not {k}")
    alpha = 1 - _check_open_unit("confidence", confidence)
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def poisson_interval(k: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) two-sided confidence interval on a Poisson mean.

    ``low = chi2.ppf(alpha / 2, 2 k) / 2`` (0 when ``k = 0``) and
    ``high = chi2.ppf(1 - alpha / 2, 2 k + 2) / 2``, ``alpha = 1 - confidence``.

    Parameters
    ----------
    k : int
        Observed count (events), at least 0.
    confidence : float
        Confidence level in (0, 1).

    Returns
    -------
    (float, float)
        Lower and upper bounds on the mean count (events).
    """
    k = _check_int("k", k, 0)
    alpha = 1 - _check_open_unit("confidence", confidence)
    low = 0.0 if k == 0 else float(stats.chi2.ppf(alpha / 2, 2 * k)) / 2
    high = float(stats.chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2
    return low, high


def mean_with_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of repeated measurements and its Student-t confidence interval.

    Parameters
    ----------
    values : array_like
        One-dimensional, finite, at least one value (any unit).
    confidence : float
        Confidence level in (0, 1).

    Returns
    -------
    (float, float, float)
        ``(mean, low, high)`` in the unit of ``values``: ``mean -/+ t s / sqrt(n)``,
        ``s`` the sample standard deviation and ``t`` the two-sided quantile of
        Student's t with ``n - 1`` degrees of freedom. With a single value the
        interval is degenerate: ``(v, v, v)``.
    """
    c = _check_open_unit("confidence", confidence)
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, not shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("values must be finite, not contain NaN or infinity")
    mean = float(x.mean())
    if x.size < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + c / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


# ---------------------------------------------------------------------------------------
# beam tests


def cross_section(upsets: int, fluence: float, bits: int,
                  confidence: float = 0.95) -> dict:
    """Per-bit SEU cross-section from a beam test, with exact Poisson limits.

    Parameters
    ----------
    upsets : int
        Upsets logged during the exposure, ``k >= 0``.
    fluence : float
        Particle fluence received, particles/cm^2, ``> 0``.
    bits : int
        Exposed bits, at least 1.
    confidence : float
        Confidence level in (0, 1) of the limits.

    Returns
    -------
    dict
        ``sigma = k / (fluence * bits)`` (cm^2/bit), ``low`` and ``high``: the
        :func:`poisson_interval` on ``k`` divided by ``fluence * bits`` (cm^2/bit;
        ``low = 0`` when ``k = 0``), and the inputs ``upsets``, ``fluence``, ``bits``,
        ``confidence``.
    """
    k = _check_int("upsets", upsets, 0)
    phi = _check_real("fluence", fluence, positive=True)
    b = _check_int("bits", bits, 1)
    c = _check_open_unit("confidence", confidence)
    low, high = poisson_interval(k, c)
    exposure = phi * b
    return {"sigma": k / exposure, "low": low / exposure, "high": high / exposure,
            "upsets": k, "fluence": phi, "bits": b, "confidence": c}


def upset_rate(sigma: float, flux: float, bits: int) -> float:
    """Expected upsets per second: ``sigma * flux * bits``.

    Parameters
    ----------
    sigma : float
        Per-bit cross-section, cm^2/bit, ``>= 0``.
    flux : float
        Particle flux, particles/cm^2/s, ``>= 0``.
    bits : int
        Exposed bits, ``>= 0``.

    Returns
    -------
    float
        Upsets/s.
    """
    s = _check_real("sigma", sigma)
    f = _check_real("flux", flux)
    b = _check_int("bits", bits, 0)
    return s * f * b


# ---------------------------------------------------------------------------------------
# fault lists


def seu_schedule(rng: np.random.Generator, memories, flux: float, duration: float, *,
                 mbu: dict | None = None) -> list[dict]:
    """Single-event upsets accumulated by memories exposed to a constant flux.

    Each memory is hit by an independent Poisson process: the number of hits over the
    exposure is ``Poisson(sigma * flux * words * width * duration)``, their times are
    uniform in ``[0, duration)`` (the same law as exponential inter-arrival times),
    and the word and the bit hit are uniform. A hit upsets one bit, or with the
    probabilities of ``mbu`` several adjacent bits of the same word (a multiple-bit
    upset, MBU): bits ``b .. b + m - 1`` clipped to the word, ``b`` the bit hit.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (consumed memory by memory, in order).
    memories : list of dict
        ``{"name": str, "words": int, "width": int, "sigma": float}``: ``width`` the
        stored bits per word, ``sigma`` the per-bit cross-section in cm^2/bit. Names
        must be distinct.
    flux : float
        Particle flux, particles/cm^2/s, ``>= 0``.
    duration : float
        Exposure time, s, ``>= 0``.
    mbu : dict, optional
        ``{multiplicity m >= 2: probability}``, for example ``{2: 0.1, 3: 0.02}``;
        probabilities in [0, 1] summing to at most 1, the rest being single-bit upsets.
        ``None`` (default): single-bit upsets only.

    Returns
    -------
    list of dict
        Upsets in the format of the module docstring, sorted by time (hits at the same
        time keep the order of ``memories``). ``fluence = flux * time``
        (particles/cm^2). For an MBU clipped at the top of the word, ``bits`` is the
        number of bits actually flipped (``m`` or fewer).
    """
    rng = _check_rng(rng)
    mems = _check_memories(memories, sigma=True)
    f = _check_real("flux", flux)
    d = _check_real("duration", duration)
    sizes, probs = _check_mbu(mbu)
    parts = []
    for index, (_, words, width, sigma) in enumerate(mems):
        count = int(rng.poisson(sigma * f * words * width * d))
        times = rng.uniform(0.0, d, count) if d > 0 else np.zeros(count)
        addr = rng.integers(0, words, count)
        bit = rng.integers(0, width, count)
        mult = (rng.choice(sizes, size=count, p=probs) if len(sizes) > 1
                else np.ones(count, np.int64))
        parts.append((np.full(count, index), times, addr, bit,
                      np.minimum(mult, width - bit)))
    if not parts:
        return []
    index, times, addr, bit, mult = (np.concatenate(col) for col in zip(*parts))
    order = np.argsort(times, kind="stable")
    return [_upset(times[i], f, mems[index[i]][0], addr[i], bit[i], int(mult[i]))
            for i in order]


def fixed_flips(rng: np.random.Generator, memories, count: int) -> list[dict]:
    """``count`` distinct single-bit flips, uniform over every bit of every memory.

    The bits are drawn without replacement (two flips of one bit would cancel) from
    the union of all stored bits, so each memory receives flips in proportion to its
    size ``words * width``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    memories : list of dict
        ``{"name": str, "words": int, "width": int}`` (other keys, such as
        ``sigma``, are ignored). Names must be distinct.
    count : int
        Number of flips, ``0 <= count <= `` the total number of bits.

    Returns
    -------
    list of dict
        Upsets in the format of the module docstring, all with ``time = 0`` and
        ``fluence = 0``, ordered by memory (in the order given), word, bit.
    """
    rng = _check_rng(rng)
    mems = _check_memories(memories)
    count = _check_int("count", count, 0)
    sizes = [words * width for _, words, width in mems]
    total = sum(sizes)
    if count > total:
        raise ValueError(f"count must be at most the {total} bits of the memories, "
                         f"not {count}")
    if count == 0:
        return []
    flat = np.sort(rng.choice(total, size=count, replace=False))
    ends = np.cumsum(sizes)
    which = np.searchsorted(ends, flat, side="right")
    out = []
    for pos, m in zip(flat.tolist(), which.tolist()):
        name, _, width = mems[m]
        local = pos - (int(ends[m]) - sizes[m])
        out.append(_upset(0.0, 0.0, name, local // width, local % width))
    return out


def exhaustive_bits(memory: dict) -> list[dict]:
    """Every single-bit flip of one memory, word-major, bit-minor.

    Parameters
    ----------
    memory : dict
        ``{"name": str, "words": int, "width": int}`` (other keys are ignored).

    Returns
    -------
    list of dict
        ``words * width`` upsets in the format of the module docstring (``time = 0``,
        ``fluence = 0``): word 0 bits 0 .. width - 1, then word 1, and so on.
    """
    name, words, width = _check_memory(memory, "memory")
    return [_upset(0.0, 0.0, name, w, b) for w in range(words) for b in range(width)]


# ---------------------------------------------------------------------------------------
# analysis


def time_to_failure(times, accuracies, threshold: float) -> float | None:
    """First time at which the accuracy is below ``threshold``.

    Parameters
    ----------
    times : array_like
        1-D, finite, non-decreasing (any unit: seconds, particles/cm^2, injections).
    accuracies : array_like
        1-D, finite, same length: the accuracy measured at each time.
    threshold : float
        Finite; failure is ``accuracy < threshold`` (strictly).

    Returns
    -------
    float or None
        ``times[i]`` for the first ``i`` that fails, in the unit of ``times``; ``None``
        if none does (including when there are no measurements).
    """
    t = np.asarray(times, dtype=float)
    a = np.asarray(accuracies, dtype=float)
    if t.ndim != 1:
        raise ValueError(f"times must be 1-D, not shape {t.shape}")
    if a.shape != t.shape:
        raise ValueError(f"accuracies must have the shape of times {t.shape}, "
                         f"not {a.shape}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(a))):
        raise ValueError("times and accuracies must be finite, not contain NaN or "
                         "infinity")
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be non-decreasing")
    if not _is_real(threshold) or not math.isfinite(float(threshold)):
        raise ValueError(f"threshold must be a finite number, not {threshold!r}")
    below = np.flatnonzero(a < float(threshold))
    return float(t[below[0]]) if below.size else None
