"""Tools beside the evaluation: `bench` (speed), `colorize` and `films` (use a model on files), `ui`
(the MLflow UI), `catalog` (every official weights file), `upstream` (the peers' reference code)."""
