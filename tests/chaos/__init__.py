"""The chaos run: the live loop under ordinary failures, checked after every step.

A scripted team of three annotators creates, updates and deletes annotations, skips
tasks and deletes tasks through Label Studio's API, while ``labelloop`` commands
(``run``, ``cycle``, ``push``, ``pull``, ``export``) are SIGKILLed at random moments and
at every failpoint, Label Studio is restarted, and the MLflow tracking server is made
unreachable for a while. After every step the invariants are checked against the real
Label Studio and the real MLflow server (:mod:`tests.chaos.invariants`).

``make chaos`` runs the long version (``python -m tests.chaos``); ``make test`` runs a
short one (``tests/chaos/test_chaos.py``).

Modules::

    services.py    the real Label Studio and MLflow server, stopped and started on demand
    team.py        three annotators acting through Label Studio's API
    invariants.py  what must hold after every step, measured on both sides
    runner.py      the steps: team bursts, killed commands, restarts, outages; the report
    __main__.py    ``python -m tests.chaos --kills 300 --ls-restarts 5``
"""
