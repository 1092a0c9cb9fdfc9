"""Project configs: the YAML schema, ``labelloop init``'s writer, routing rules, the work dir.

Modules
-------
schema
    The YAML project config, validated into one frozen pydantic model.
writer
    ``labelloop init``: a config written from a data file.
rules
    Always-human rules, checked against the data and applied to its rows.
workdir
    Where Label Studio's data, the state store and MLflow's store live.
"""
