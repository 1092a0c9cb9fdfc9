"""labelloop learners: acquisition scores and strategies, the active learner, stopping, evaluation.

modAL runs underneath; the first use of a name from this package applies the
scikit-learn >= 1.8 compatibility shim (see :mod:`labelloop.learners._modal_compat`).

Names load on first use (``labelloop.learners.margin_scores`` imports its module
then), so importing the package, or one error class from it, stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labelloop.datasets._lazy import lazy_names

if TYPE_CHECKING:
    from labelloop.learners._committee import (
        BaggingCommittee,
        qbc_consensus_entropy,
        qbc_vote_entropy,
    )
    from labelloop.learners._curves import (
        Spread,
        area_under_curve,
        labels_to_reach,
        paired_interval,
        spread,
    )
    from labelloop.learners._density import information_density_sampling
    from labelloop.learners._diversity import (
        diverse_margin_sampling,
        kmeans_cold_start,
        ranked_batch_sampling,
    )
    from labelloop.learners._errors import (
        EmptyPoolError,
        EvaluationSetError,
        LearnerError,
        NotEnoughLabelsError,
        PoolExhaustedError,
        UnknownItemError,
        UnknownStrategyError,
    )
    from labelloop.learners._evaluation import Metrics, aligned_proba, evaluate, standard_metrics
    from labelloop.learners._learner import ItemQuery, PoolLearner
    from labelloop.learners._modal_compat import apply_modal_shim, modal_needs_shim
    from labelloop.learners._random_curve import (
        RandomCurve,
        curve_reach,
        estimate_random_curve,
        labels_saved,
    )
    from labelloop.learners._routing import (
        AuditVerdict,
        ClassThreshold,
        Route,
        Routing,
        audit_quota,
        audit_verdict,
        class_thresholds,
        evaluation_thresholds,
        min_evidence,
        precision_bounds,
        route_items,
    )
    from labelloop.learners._routing_sim import (
        RoutingPolicy,
        RoutingRun,
        RoutingStep,
        simulate_routing,
    )
    from labelloop.learners._scores import (
        certainty,
        entropy_scores,
        least_confidence_scores,
        linear_proba,
        map_chunks,
        margin_scores,
        score_pool,
    )
    from labelloop.learners._selection import Query, top_n
    from labelloop.learners._simulation import (
        CurvePoint,
        SimulationRun,
        draw_evaluation_set,
        draw_stop_set,
        full_pool_metrics,
        simulate,
    )
    from labelloop.learners._stopping import (
        OverallUncertainty,
        StabilizingPredictions,
        StoppingCriterion,
        Verdict,
        mean_uncertainty,
        prediction_kappa,
    )
    from labelloop.learners._strategies import (
        COLD_START_STRATEGIES,
        STRATEGIES,
        QueryFunction,
        Strategy,
        get_strategy,
    )
    from labelloop.learners._types import Matrix, ProbabilisticClassifier
    from labelloop.learners._uncertainty import (
        entropy_sampling,
        least_confidence_sampling,
        margin_sampling,
        random_sampling,
    )

__all__ = [
    "AuditVerdict",
    "BaggingCommittee",
    "COLD_START_STRATEGIES",
    "ClassThreshold",
    "CurvePoint",
    "EmptyPoolError",
    "EvaluationSetError",
    "ItemQuery",
    "LearnerError",
    "Matrix",
    "Metrics",
    "NotEnoughLabelsError",
    "OverallUncertainty",
    "PoolExhaustedError",
    "PoolLearner",
    "ProbabilisticClassifier",
    "Query",
    "QueryFunction",
    "Route",
    "Routing",
    "RoutingPolicy",
    "RoutingRun",
    "RoutingStep",
    "STRATEGIES",
    "SimulationRun",
    "RandomCurve",
    "Spread",
    "StabilizingPredictions",
    "StoppingCriterion",
    "Strategy",
    "UnknownItemError",
    "UnknownStrategyError",
    "Verdict",
    "aligned_proba",
    "apply_modal_shim",
    "area_under_curve",
    "curve_reach",
    "estimate_random_curve",
    "audit_quota",
    "audit_verdict",
    "certainty",
    "class_thresholds",
    "diverse_margin_sampling",
    "draw_evaluation_set",
    "draw_stop_set",
    "entropy_sampling",
    "entropy_scores",
    "evaluate",
    "evaluation_thresholds",
    "full_pool_metrics",
    "get_strategy",
    "information_density_sampling",
    "kmeans_cold_start",
    "labels_saved",
    "labels_to_reach",
    "paired_interval",
    "least_confidence_sampling",
    "least_confidence_scores",
    "linear_proba",
    "map_chunks",
    "margin_sampling",
    "margin_scores",
    "mean_uncertainty",
    "min_evidence",
    "modal_needs_shim",
    "precision_bounds",
    "prediction_kappa",
    "qbc_consensus_entropy",
    "qbc_vote_entropy",
    "random_sampling",
    "ranked_batch_sampling",
    "route_items",
    "score_pool",
    "simulate",
    "simulate_routing",
    "spread",
    "standard_metrics",
    "top_n",
]

_HOMES = {
    "mean_uncertainty": "labelloop.learners._stopping",
    "prediction_kappa": "labelloop.learners._stopping",
    "draw_stop_set": "labelloop.learners._simulation",
    "evaluation_thresholds": "labelloop.learners._routing",
    "audit_quota": "labelloop.learners._routing",
    "AuditVerdict": "labelloop.learners._routing",
    "BaggingCommittee": "labelloop.learners._committee",
    "COLD_START_STRATEGIES": "labelloop.learners._strategies",
    "ClassThreshold": "labelloop.learners._routing",
    "CurvePoint": "labelloop.learners._simulation",
    "EmptyPoolError": "labelloop.learners._errors",
    "EvaluationSetError": "labelloop.learners._errors",
    "ItemQuery": "labelloop.learners._learner",
    "LearnerError": "labelloop.learners._errors",
    "Matrix": "labelloop.learners._types",
    "Metrics": "labelloop.learners._evaluation",
    "NotEnoughLabelsError": "labelloop.learners._errors",
    "OverallUncertainty": "labelloop.learners._stopping",
    "PoolExhaustedError": "labelloop.learners._errors",
    "PoolLearner": "labelloop.learners._learner",
    "ProbabilisticClassifier": "labelloop.learners._types",
    "Query": "labelloop.learners._selection",
    "QueryFunction": "labelloop.learners._strategies",
    "Route": "labelloop.learners._routing",
    "Routing": "labelloop.learners._routing",
    "RoutingPolicy": "labelloop.learners._routing_sim",
    "RoutingRun": "labelloop.learners._routing_sim",
    "RoutingStep": "labelloop.learners._routing_sim",
    "STRATEGIES": "labelloop.learners._strategies",
    "SimulationRun": "labelloop.learners._simulation",
    "RandomCurve": "labelloop.learners._random_curve",
    "Spread": "labelloop.learners._curves",
    "StabilizingPredictions": "labelloop.learners._stopping",
    "StoppingCriterion": "labelloop.learners._stopping",
    "Strategy": "labelloop.learners._strategies",
    "UnknownItemError": "labelloop.learners._errors",
    "UnknownStrategyError": "labelloop.learners._errors",
    "Verdict": "labelloop.learners._stopping",
    "aligned_proba": "labelloop.learners._evaluation",
    "apply_modal_shim": "labelloop.learners._modal_compat",
    "area_under_curve": "labelloop.learners._curves",
    "curve_reach": "labelloop.learners._random_curve",
    "estimate_random_curve": "labelloop.learners._random_curve",
    "labels_saved": "labelloop.learners._random_curve",
    "audit_verdict": "labelloop.learners._routing",
    "class_thresholds": "labelloop.learners._routing",
    "diverse_margin_sampling": "labelloop.learners._diversity",
    "draw_evaluation_set": "labelloop.learners._simulation",
    "entropy_sampling": "labelloop.learners._uncertainty",
    "certainty": "labelloop.learners._scores",
    "entropy_scores": "labelloop.learners._scores",
    "evaluate": "labelloop.learners._evaluation",
    "standard_metrics": "labelloop.learners._evaluation",
    "full_pool_metrics": "labelloop.learners._simulation",
    "get_strategy": "labelloop.learners._strategies",
    "information_density_sampling": "labelloop.learners._density",
    "kmeans_cold_start": "labelloop.learners._diversity",
    "labels_to_reach": "labelloop.learners._curves",
    "paired_interval": "labelloop.learners._curves",
    "least_confidence_sampling": "labelloop.learners._uncertainty",
    "least_confidence_scores": "labelloop.learners._scores",
    "linear_proba": "labelloop.learners._scores",
    "map_chunks": "labelloop.learners._scores",
    "margin_sampling": "labelloop.learners._uncertainty",
    "margin_scores": "labelloop.learners._scores",
    "min_evidence": "labelloop.learners._routing",
    "modal_needs_shim": "labelloop.learners._modal_compat",
    "precision_bounds": "labelloop.learners._routing",
    "qbc_consensus_entropy": "labelloop.learners._committee",
    "qbc_vote_entropy": "labelloop.learners._committee",
    "random_sampling": "labelloop.learners._uncertainty",
    "ranked_batch_sampling": "labelloop.learners._diversity",
    "route_items": "labelloop.learners._routing",
    "score_pool": "labelloop.learners._scores",
    "simulate": "labelloop.learners._simulation",
    "simulate_routing": "labelloop.learners._routing_sim",
    "spread": "labelloop.learners._curves",
    "top_n": "labelloop.learners._selection",
}


def _apply_shim() -> None:
    from labelloop.learners._modal_compat import apply_modal_shim

    apply_modal_shim()


__getattr__, __dir__ = lazy_names(__name__, _HOMES, on_first_use=_apply_shim)
