"""labelloop learners: acquisition scores and strategies, the active learner, stopping, evaluation.

modAL runs underneath; importing this package applies the scikit-learn >= 1.8
compatibility shim (see :mod:`learners._modal_compat`).
"""

from learners._committee import BaggingCommittee, qbc_consensus_entropy, qbc_vote_entropy
from learners._curves import Spread, area_under_curve, labels_to_reach, spread
from learners._density import information_density_sampling
from learners._diversity import diverse_margin_sampling, kmeans_cold_start, ranked_batch_sampling
from learners._errors import EmptyPoolError, LearnerError, NotEnoughLabelsError, PoolExhaustedError
from learners._evaluation import Metrics, aligned_proba, evaluate
from learners._learner import ItemQuery, PoolLearner
from learners._modal_compat import apply_modal_shim, modal_needs_shim
from learners._routing import (
    AuditVerdict,
    ClassThreshold,
    Route,
    Routing,
    audit_verdict,
    class_thresholds,
    min_evidence,
    precision_bounds,
    route_items,
)
from learners._routing_sim import RoutingPolicy, RoutingRun, RoutingStep, simulate_routing
from learners._scores import (
    entropy_scores,
    least_confidence_scores,
    linear_proba,
    map_chunks,
    margin_scores,
    score_pool,
)
from learners._selection import Query, top_n
from learners._simulation import (
    CurvePoint,
    SimulationRun,
    draw_evaluation_set,
    full_pool_metrics,
    simulate,
)
from learners._stopping import (
    OverallUncertainty,
    StabilizingPredictions,
    StoppingCriterion,
    Verdict,
)
from learners._strategies import (
    COLD_START_STRATEGIES,
    STRATEGIES,
    QueryFunction,
    Strategy,
    get_strategy,
)
from learners._types import Matrix, ProbabilisticClassifier
from learners._uncertainty import (
    entropy_sampling,
    least_confidence_sampling,
    margin_sampling,
    random_sampling,
)

apply_modal_shim()

__all__ = [
    "simulate_routing",
    "route_items",
    "precision_bounds",
    "min_evidence",
    "class_thresholds",
    "audit_verdict",
    "RoutingStep",
    "RoutingRun",
    "RoutingPolicy",
    "Routing",
    "Route",
    "ClassThreshold",
    "AuditVerdict",
    "COLD_START_STRATEGIES",
    "STRATEGIES",
    "BaggingCommittee",
    "CurvePoint",
    "EmptyPoolError",
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
    "SimulationRun",
    "Spread",
    "StabilizingPredictions",
    "StoppingCriterion",
    "Strategy",
    "Verdict",
    "aligned_proba",
    "apply_modal_shim",
    "area_under_curve",
    "diverse_margin_sampling",
    "draw_evaluation_set",
    "entropy_sampling",
    "entropy_scores",
    "evaluate",
    "full_pool_metrics",
    "get_strategy",
    "information_density_sampling",
    "kmeans_cold_start",
    "labels_to_reach",
    "least_confidence_sampling",
    "least_confidence_scores",
    "linear_proba",
    "map_chunks",
    "margin_sampling",
    "margin_scores",
    "modal_needs_shim",
    "qbc_consensus_entropy",
    "qbc_vote_entropy",
    "random_sampling",
    "ranked_batch_sampling",
    "score_pool",
    "simulate",
    "spread",
    "top_n",
]
