"""The live loop: a project, its features, one cycle in phases, MLflow, routing, stopping.

Modules
-------
project
    ``LabellingProject``: a config's pool, its Label Studio project and its state; the next batch.
features
    From a config to its pool and feature matrix.
cycle
    ``run_cycle``: pull, train, evaluate, log, score, route, push (one function a phase).
stopping
    The evaluation set, the stop set and the stopping rule, shared with the simulation.
tracking
    MLflow: one run per cycle, registered models, the champion alias.
routing
    Human in the loop on a live project: routes, audits, corrections.
annotator
    The demo's simulated annotators, labelling through Label Studio's API.
lock
    The project lock, held by every command that changes a project's state.
data_change
    Item fingerprints: a changed data file is refused until ``accept-data``.
outage
    ``outlast``: rerun a step while a service it needs is unreachable (``run`` uses it).
"""
