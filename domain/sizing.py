"""Attribute-sampling sample size: how many businesses to inspect to conclude, at a confidence
level, that the rate of non-compliance is below a tolerable rate.

With tolerable rate T, expected rate E and confidence C, the sample size n is the smallest n with

    P[X <= k] <= 1 - C,   X ~ Binomial(n, T),   k = ceil(n * E)

that is, if the true rate were T, finding no more than the k deviations we expect would happen with
probability at most 1 - C. For a finite population N it is reduced by n' = ceil(n / (1 + n / N)),
and never exceeds N. This is the binomial form behind the usual audit sampling tables (for
C = 95 %, T = 5 %, E = 1 %: n = 93 with k = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from domain.errors import BadArgumentError


@dataclass(frozen=True)
class SampleSize:
    n: int
    n_infinite: int
    allowed_deviations: int
    population: int | None


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P[X <= k] for X ~ Binomial(n, p)."""
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def attribute_sample_size(*, confidence: float, tolerable_rate: float, expected_rate: float,
                          population: int | None = None, max_n: int = 100_000) -> SampleSize:
    """The sample size for attribute sampling (see the module docstring for the formula)."""
    if not 0 < confidence < 1:
        raise BadArgumentError("--confidence must be between 0 and 1 (e.g. 0.95)",
                               "--confidence应在0到1之间（如0.95）")
    if not 0 < tolerable_rate < 1:
        raise BadArgumentError("--tolerable-rate must be between 0 and 1 (e.g. 0.05)",
                               "--tolerable-rate应在0到1之间（如0.05）")
    if not 0 <= expected_rate < tolerable_rate:
        raise BadArgumentError("--expected-rate must be at least 0 and below the tolerable rate",
                               "--expected-rate应不小于0且小于可容忍偏差率")
    if population is not None and population < 1:
        raise BadArgumentError("--population must be at least 1", "--population至少为1")
    risk = 1 - confidence
    for n in range(1, max_n + 1):
        k = math.ceil(n * expected_rate - 1e-12)
        if binomial_cdf(k, n, tolerable_rate) <= risk:
            break
    else:
        raise BadArgumentError(f"no sample size up to {max_n:,} reaches that confidence; raise "
                               "the tolerable rate",
                               f"样本量达到{max_n:,}仍不满足置信度；请提高可容忍偏差率")
    finite = n
    if population is not None:
        finite = min(population, math.ceil(n / (1 + n / population) - 1e-12))
        k = math.ceil(finite * expected_rate - 1e-12)  # the deviations the smaller sample allows
    return SampleSize(finite, n, k, population)
