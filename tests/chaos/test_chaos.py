"""A short chaos run: a few kills, a restart, an outage, no violation.

It takes minutes, so it runs with ``make chaos``, first, before the long run (300 kills,
5 Label Studio restarts), not in ``make test``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.runner import INVARIANTS, ChaosSettings, run_chaos

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def test_short_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    report = run_chaos(
        ChaosSettings(workdir=tmp_path, kills=8, ls_restarts=1, mlflow_outages=1, seed=7, items=150)
    )
    assert report.counts["Label Studio restarts"] == 1
    assert report.counts["MLflow outages"] == 1
    assert (
        report.counts["SIGKILL at a random moment"] + report.counts["SIGKILL at a failpoint"] >= 8
    )
    for name in INVARIANTS:
        assert report.checks[name] > 0, f"{name} was never checked"
    assert report.violations == {}
