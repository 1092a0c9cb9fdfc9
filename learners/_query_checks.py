"""Input checks shared by every strategy."""

from __future__ import annotations

from labelloop.learners._errors import EmptyPoolError, PoolExhaustedError
from labelloop.learners._types import Matrix

__all__ = ["check_query"]


def check_query(X: Matrix, n: int) -> None:
    """Raise a typed error when ``n`` items cannot be picked from ``X``.

    Raises
    ------
    EmptyPoolError
        If ``X`` has no rows.
    PoolExhaustedError
        If ``n`` exceeds the number of rows.
    ValueError
        If ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of items to query must be a positive integer, got {n!r}")
    n_rows = X.shape[0]
    if n_rows == 0:
        raise EmptyPoolError(f"cannot query {n} item(s): the pool has no unlabelled items")
    if n > n_rows:
        raise PoolExhaustedError(
            f"cannot query {n} item(s): only {n_rows} unlabelled item(s) are left in the pool"
        )
