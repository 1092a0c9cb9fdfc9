"""What people read: terminal tables, plots, the HTML report, status, the labelled export.

Modules
-------
status
    ``labelloop status``: a project as a few tables.
tables
    Simulation summary tables for the terminal.
plots
    Learning-curve and routing plots.
files
    A simulation's output folder: its JSON and its plots.
html
    ``labelloop report``: one self-contained HTML page.
export
    ``labelloop export``: the labelled dataset with each label's provenance.
"""
