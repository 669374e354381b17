"""What is logged where: the MLflow client, the layout of runs (every tag name), what a sweep records,
and reading sweeps back. The only package that imports MLflow."""
