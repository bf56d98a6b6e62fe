"""Agreement coefficients as plugins: one registered class per coefficient.

Each class declares what it is (``name``, ``summary``, the published ``reference``), where it
applies (``levels``; ``two_raters`` for the coefficients defined for exactly two raters;
``weighted`` when it also has a quadratic-weighted form at the ordinal and interval levels) and
computes itself from :class:`Ratings` with the pure functions of
:mod:`curata.stats.agreement`. They register under the entry-point group
``curata.coefficients``; :func:`curata.stats.agreement.agreement_report` iterates the registry
in ``order``, so the report (and its numbers) are those of the published conventions documented
in :mod:`curata.stats.agreement`.

``scope`` says what a coefficient reads: ``reliability`` the whole ``units x raters`` matrix at
the measurement level (Krippendorff's alpha), ``categories`` the ``units x categories`` counts
(the multi-rater coefficients), ``pairs`` the two raters' ratings of the units both rated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from curata.core.plugins import Plugin, Registry
from curata.stats.agreement import (
    LEVELS,
    AgreementError,
    Coefficient,
    Matrix,
    alpha_with_interval,
    bootstrap_interval,
    brennan_prediger,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac,
    percent_agreement,
    scott_pi,
    weight_matrix,
)

CATEGORY_LEVELS = ("nominal", "ordinal", "interval")


@dataclass(frozen=True)
class Ratings:
    """What the coefficients of one report are computed from."""

    data: Matrix
    """``units x raters`` (NaN: not rated): as given for alpha, as category codes for the
    others."""
    level: str
    counts: Matrix | None = None
    """``units x q`` category counts of the units rated at least once."""
    q: int = 0
    units: int = 0
    """Units rated at least twice (what the category coefficients rest on)."""
    pair: tuple[Matrix, Matrix] | None = None
    """Two raters: their ratings (category codes) of the units both rated."""


class AgreementCoefficient(Plugin):
    """Base of agreement coefficients (see the module docstring)."""

    abstract = True
    kind = "coefficient"
    scope: ClassVar[Literal["reliability", "categories", "pairs"]] = "categories"
    levels: ClassVar[tuple[str, ...]] = CATEGORY_LEVELS
    two_raters: ClassVar[bool] = False
    weighted: ClassVar[bool] = True
    reference: ClassVar[str] = ""
    order: ClassVar[int] = 100

    def label(self, weights: str) -> str:
        """The reported name under ``weights`` (Gwet's AC1 weighted is AC2)."""
        return self.name

    def resampled(self, ratings: Ratings) -> int:
        """How many rows the bootstrap resamples."""
        assert ratings.counts is not None
        return len(ratings.counts)

    def reported_units(self, ratings: Ratings) -> int:
        return ratings.units

    def compute(self, ratings: Ratings, idx: Matrix | None, weights: str) -> float:
        """The coefficient on the rows ``idx`` (all rows for None)."""
        raise NotImplementedError

    def measure(
        self,
        ratings: Ratings,
        weights: str = "unweighted",
        *,
        samples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> Coefficient:
        """The coefficient with its bootstrap percentile interval."""

        def stat(idx: Matrix) -> float:
            return self.compute(ratings, idx, weights)

        low, high = bootstrap_interval(
            stat, self.resampled(ratings), samples=samples, confidence=confidence, seed=seed
        )
        at = "nominal" if weights == "unweighted" else ratings.level
        value = self.compute(ratings, None, weights)
        return Coefficient(
            self.label(weights), value, low, high, self.reported_units(ratings), weights, at
        )


class KrippendorffAlpha(AgreementCoefficient):
    name = "krippendorff_alpha"
    summary = "Disagreement observed over expected, at any measurement level, missing data allowed."
    scope = "reliability"
    levels = LEVELS
    reference = "Krippendorff (2011), Computing Krippendorff's Alpha-Reliability"
    order = 0

    def measure(
        self,
        ratings: Ratings,
        weights: str = "unweighted",
        *,
        samples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> Coefficient:
        return alpha_with_interval(
            ratings.data, ratings.level, samples=samples, confidence=confidence, seed=seed
        )


class _Counted(AgreementCoefficient):
    """A coefficient of the category counts (a function ``f(counts, weights)``)."""

    abstract = True

    @staticmethod
    def function(counts: Matrix, weights: Matrix | None) -> float:
        raise NotImplementedError

    def compute(self, ratings: Ratings, idx: Matrix | None, weights: str) -> float:
        assert ratings.counts is not None
        counts = ratings.counts if idx is None else ratings.counts[idx]
        return float(self.function(counts, weight_matrix(ratings.q, weights)))


class PercentAgreement(_Counted):
    name = "percent_agreement"
    summary = "Share of agreeing rater pairs per unit, averaged (no chance correction)."
    reference = "Gwet (2014), Handbook of Inter-Rater Reliability, 4th ed., ch. 2"
    order = 10
    function = staticmethod(percent_agreement)


class FleissKappa(_Counted):
    name = "fleiss_kappa"
    summary = "Chance-corrected agreement of many raters, chance from the category prevalence."
    reference = "Fleiss (1971); with missing ratings Gwet (2014), ch. 2 (irrCAC fleiss.kappa.raw)"
    order = 11
    function = staticmethod(fleiss_kappa)


class GwetAC1(_Counted):
    name = "gwet_ac1"
    summary = "Gwet's AC1 (AC2 weighted): chance agreement that stays small at high prevalence."
    reference = "Gwet (2008), Computing inter-rater reliability and its variance, BJMSP 61(1)"
    order = 12
    function = staticmethod(gwet_ac)

    def label(self, weights: str) -> str:
        return "gwet_ac1" if weights == "unweighted" else "gwet_ac2"


class BrennanPrediger(_Counted):
    name = "brennan_prediger"
    summary = "Chance-corrected agreement with uniform chance over the categories."
    reference = "Brennan & Prediger (1981), Coefficient kappa: some uses, misuses, alternatives"
    order = 13
    function = staticmethod(brennan_prediger)


class _Paired(AgreementCoefficient):
    """A coefficient of exactly two raters, on the units both rated."""

    abstract = True
    scope = "pairs"
    two_raters = True

    @staticmethod
    def pair(ratings: Ratings, idx: Matrix | None = None) -> tuple[Matrix, Matrix]:
        """The two raters' ratings of the units both rated (rows ``idx``)."""
        if ratings.pair is None:
            raise AgreementError("this coefficient needs exactly two raters")
        a, b = ratings.pair
        return (a, b) if idx is None else (a[idx], b[idx])

    def resampled(self, ratings: Ratings) -> int:
        return len(self.pair(ratings)[0])

    reported_units = resampled


class CohenKappa(_Paired):
    name = "cohen_kappa"
    summary = "Two raters' chance-corrected agreement, chance from each rater's own marginals."
    reference = "Cohen (1960); weighted: Cohen (1968), Psychological Bulletin 70(4)"
    order = 20

    def compute(self, ratings: Ratings, idx: Matrix | None, weights: str) -> float:
        a, b = self.pair(ratings, idx)
        return cohen_kappa(a, b, ratings.q, weights)


class ScottPi(_Paired):
    name = "scott_pi"
    summary = "Two raters' chance-corrected agreement, chance from their pooled marginals."
    reference = "Scott (1955), Reliability of content analysis, Public Opinion Quarterly 19(3)"
    weighted = False
    order = 21

    def compute(self, ratings: Ratings, idx: Matrix | None, weights: str) -> float:
        a, b = self.pair(ratings, idx)
        return scott_pi(a, b, ratings.q)


COEFFICIENTS: Registry[type[AgreementCoefficient]] = Registry(
    "curata.coefficients", AgreementCoefficient, "coefficient"
)


def coefficients() -> list[type[AgreementCoefficient]]:
    """Every registered coefficient, in report order."""
    return sorted(COEFFICIENTS.load().values(), key=lambda c: (c.order, c.name))


def categories_ratings(data: Matrix, level: str, q: int, counts: Matrix, units: int) -> Ratings:
    """The :class:`Ratings` of category data (``data`` as category codes)."""
    pair = None
    if data.shape[1] == 2:
        a, b = data[:, 0], data[:, 1]
        both = ~np.isnan(a) & ~np.isnan(b)
        pair = (a[both], b[both])
    return Ratings(data, level, counts, q, units, pair)
