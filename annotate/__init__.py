"""labelloop annotate: config, the command line, and (next) Label Studio, state and MLflow."""
