"""Query by committee: bootstrap members trained through modAL, disagreement scores from modAL."""

from __future__ import annotations

from typing import Any

import numpy as np
from modAL.disagreement import consensus_entropy, vote_entropy
from modAL.models import ActiveLearner, Committee
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, clone

from labelloop.learners._errors import NotEnoughLabelsError
from labelloop.learners._query_checks import check_query
from labelloop.learners._scores import map_chunks
from labelloop.learners._selection import Query, top_n
from labelloop.learners._types import Matrix

__all__ = ["BaggingCommittee", "qbc_consensus_entropy", "qbc_vote_entropy"]


class BaggingCommittee:
    """A committee of clones of one estimator, each fitted on a stratified bootstrap.

    Labels are compared as strings; ``classes_`` holds them sorted.

    Every member sees every class (the bootstrap resamples within each class), so all
    members' probability columns line up with ``classes_``.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Template; never fitted itself.
    n_members : int
        Committee size.
    random_state : int or numpy.random.Generator, optional
        Seeds the bootstrap samples.
    """

    def __init__(
        self,
        estimator: BaseEstimator,
        n_members: int = 5,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.estimator = estimator
        self.n_members = n_members
        self.random_state = random_state

    def fit(self, X: Matrix, y: NDArray[Any]) -> BaggingCommittee:
        """Fit every member on its own stratified bootstrap of ``(X, y)``."""
        if self.n_members < 2:
            raise ValueError(f"a committee needs at least 2 members, got {self.n_members}")
        # modAL's Committee stores votes in a float array: train members on class codes.
        classes, codes = np.unique(np.asarray(y, dtype=object).astype(str), return_inverse=True)
        if classes.size < 2:
            raise NotEnoughLabelsError(
                f"a committee needs labels of at least 2 classes, got {classes.size}"
            )
        rng = np.random.default_rng(self.random_state)
        by_class = [np.flatnonzero(codes == k) for k in range(classes.size)]
        members = []
        for _ in range(self.n_members):
            rows = np.concatenate(
                [rng.choice(idx, size=idx.size, replace=True) for idx in by_class]
            )
            members.append(
                ActiveLearner(
                    estimator=clone(self.estimator), X_training=X[rows], y_training=codes[rows]
                )
            )
        self.committee_ = Committee(learner_list=members)
        self.classes_ = classes
        return self

    def predict_proba(self, X: Matrix) -> NDArray[np.float64]:
        """Consensus probabilities: the members' mean, columns in ``classes_`` order."""
        return np.asarray(self.committee_.predict_proba(X), dtype=np.float64)

    def vote(self, X: Matrix) -> NDArray[Any]:
        """Each member's predicted label, shape ``(n_rows, n_members)``."""
        codes = np.asarray(self.committee_.vote(X)).astype(np.intp)
        return np.asarray(self.classes_[codes])


def _committee_of(model: object) -> BaggingCommittee:
    if not isinstance(model, BaggingCommittee) or not hasattr(model, "committee_"):
        raise TypeError(
            "query-by-committee strategies need a fitted BaggingCommittee as the model, "
            f"got {type(model).__name__}"
        )
    return model


def qbc_vote_entropy(
    model: BaggingCommittee | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
) -> Query:
    """Pick the rows on whose label the members' votes disagree most (modAL's vote entropy)."""
    check_query(X, n)
    committee = _committee_of(model)
    scores = map_chunks(X, lambda block: vote_entropy(committee.committee_, block))
    return top_n(scores, n, rng)


def qbc_consensus_entropy(
    model: BaggingCommittee | None,
    X: Matrix,
    n: int,
    *,
    rng: np.random.Generator,
    X_labelled: Matrix | None = None,
) -> Query:
    """Pick the rows whose consensus (mean) distribution has the highest entropy (modAL)."""
    check_query(X, n)
    committee = _committee_of(model)
    scores = map_chunks(X, lambda block: consensus_entropy(committee.committee_, block))
    return top_n(scores, n, rng)
