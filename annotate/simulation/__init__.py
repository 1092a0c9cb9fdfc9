"""Offline simulations: the loop in memory, gold labels standing in for the annotators.

Nothing here imports the Label Studio SDK or MLflow.

Modules
-------
curves
    ``labelloop simulate``: strategies x seeds, learning curves and their summary.
routing
    ``labelloop simulate --routing``: how much the machine labels, and how well.
"""
