"""Attribute-sampling sample size: known table values, minimality, finite population correction."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import BadArgumentError
from domain.sizing import attribute_sample_size, binomial_cdf

SETTINGS = settings(max_examples=60, deadline=None)


def holds(n: int, confidence: float, tolerable: float, expected: float) -> bool:
    """The binomial condition of the module docstring, for sample size ``n``."""
    k = math.ceil(Fraction(n) * Fraction(str(expected)))
    return binomial_cdf(k, n, tolerable) <= 1 - confidence


@pytest.mark.parametrize(("confidence", "tolerable", "expected", "n", "k"), [
    (0.95, 0.05, 0.01, 93, 1),   # AICPA audit sampling table, 95 %: 93 (1)
    (0.95, 0.05, 0.0, 59, 0),
    (0.90, 0.05, 0.01, 77, 1),   # 90 %: 77 (1)
    (0.95, 0.10, 0.0, 29, 0),
    (0.95, 0.10, 0.02, 46, 1),
])
def test_known_sample_sizes(confidence: float, tolerable: float, expected: float, n: int,
                            k: int) -> None:
    size = attribute_sample_size(confidence=confidence, tolerable_rate=tolerable,
                                 expected_rate=expected)
    assert (size.n, size.n_infinite, size.allowed_deviations) == (n, n, k)
    assert size.population is None


def test_binomial_cdf() -> None:
    assert binomial_cdf(1, 93, 0.05) == pytest.approx(0.04997579524, abs=1e-10)
    assert binomial_cdf(0, 59, 0.05) == pytest.approx(0.95**59)
    assert binomial_cdf(10, 10, 0.3) == pytest.approx(1.0)
    assert binomial_cdf(2, 5, 0.5) == pytest.approx(0.5)


rates = st.tuples(st.sampled_from([0.8, 0.85, 0.9, 0.95, 0.99]),
                  st.integers(3, 20).map(lambda p: p / 100),
                  st.integers(0, 8).map(lambda p: p / 1000)).filter(lambda t: t[2] < t[1] / 2)


@SETTINGS
@given(rates)
def test_the_result_is_the_smallest_size_meeting_the_condition(
        r: tuple[float, float, float]) -> None:
    confidence, tolerable, expected = r
    size = attribute_sample_size(confidence=confidence, tolerable_rate=tolerable,
                                 expected_rate=expected)
    n = size.n
    assert holds(n, confidence, tolerable, expected)
    assert size.allowed_deviations == math.ceil(Fraction(n) * Fraction(str(expected)))
    assert not holds(n - 1, confidence, tolerable, expected)
    if n <= 200:
        assert not any(holds(m, confidence, tolerable, expected) for m in range(1, n))


@SETTINGS
@given(st.floats(0.5, 0.995), st.floats(0.01, 0.5))
def test_with_no_expected_deviation_it_is_the_zero_failure_size(confidence: float,
                                                                tolerable: float) -> None:
    size = attribute_sample_size(confidence=confidence, tolerable_rate=tolerable,
                                 expected_rate=0)
    assert size.allowed_deviations == 0
    assert (1 - tolerable) ** size.n <= 1 - confidence
    assert size.n == 1 or (1 - tolerable) ** (size.n - 1) > 1 - confidence


@SETTINGS
@given(rates, st.integers(1, 100_000))
def test_finite_population_correction(r: tuple[float, float, float], population: int) -> None:
    confidence, tolerable, expected = r
    infinite = attribute_sample_size(confidence=confidence, tolerable_rate=tolerable,
                                     expected_rate=expected)
    size = attribute_sample_size(confidence=confidence, tolerable_rate=tolerable,
                                 expected_rate=expected, population=population)
    assert size.population == population
    assert size.n_infinite == infinite.n
    assert 1 <= size.n <= min(infinite.n, population)
    # n' = ceil(n / (1 + n / N)) = ceil(n * N / (N + n)), in exact arithmetic
    n = infinite.n
    assert size.n == min(population, -(-n * population // (population + n)))


def test_finite_population_known_value() -> None:
    size = attribute_sample_size(confidence=0.95, tolerable_rate=0.05, expected_rate=0.01,
                                 population=500)
    assert (size.n, size.n_infinite) == (79, 93)  # ceil(93 * 500 / 593) = ceil(78.4)
    tiny = attribute_sample_size(confidence=0.95, tolerable_rate=0.05, expected_rate=0.01,
                                 population=1)
    assert tiny.n == 1


@SETTINGS
@given(rates, st.integers(1, 5000), st.integers(1, 5000))
def test_a_larger_population_never_needs_a_smaller_sample(r: tuple[float, float, float],
                                                          a: int, b: int) -> None:
    confidence, tolerable, expected = r
    small, large = sorted((a, b))
    n_small = attribute_sample_size(confidence=confidence, tolerable_rate=tolerable,
                                    expected_rate=expected, population=small).n
    n_large = attribute_sample_size(confidence=confidence, tolerable_rate=tolerable,
                                    expected_rate=expected, population=large).n
    assert n_small <= n_large


@pytest.mark.parametrize("kwargs", [
    {"confidence": 0},
    {"confidence": 1},
    {"confidence": 1.5},
    {"confidence": -0.1},
    {"confidence": float("nan")},
    {"tolerable_rate": 0},
    {"tolerable_rate": 1},
    {"tolerable_rate": -0.05},
    {"expected_rate": -0.01},
    {"expected_rate": 0.05},     # equal to the tolerable rate
    {"expected_rate": 0.06},
    {"population": 0},
    {"population": -10},
])
def test_invalid_arguments(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {"confidence": 0.95, "tolerable_rate": 0.05, "expected_rate": 0.01}
    args.update(kwargs)
    with pytest.raises(BadArgumentError):
        attribute_sample_size(**args)  # type: ignore[arg-type]


def test_no_size_within_max_n_is_a_bad_argument() -> None:
    with pytest.raises(BadArgumentError):
        attribute_sample_size(confidence=0.95, tolerable_rate=0.05, expected_rate=0.01, max_n=92)
    assert attribute_sample_size(confidence=0.95, tolerable_rate=0.05, expected_rate=0.01,
                                 max_n=93).n == 93
