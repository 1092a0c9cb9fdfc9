"""The state store: one SQLite file per project, and the records it keeps.

Modules
-------
records
    ``TaskDraft`` (an item on its way to Label Studio) and ``AnnotationRecord`` (a label back).
store
    ``StateStore``: items, batches, the task map, annotations, cycles; one transaction a step.
"""
