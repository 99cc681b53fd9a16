"""The contract suite (:mod:`streamloop.runtime.checks`) against the four functions and the fused one."""

from __future__ import annotations

from streamloop.runtime.checks import parametrize_with_checks
from streamloop.worker.features import FeaturesFunction
from streamloop.worker.fused import FeaturesScorerFunction
from streamloop.worker.joiner import JoinerFunction
from streamloop.worker.learner import LearnerFunction
from streamloop.worker.scorer import ScorerFunction


@parametrize_with_checks(
    [FeaturesFunction, ScorerFunction, FeaturesScorerFunction, JoinerFunction, LearnerFunction]
)
def test_contract(check) -> None:
    check()
