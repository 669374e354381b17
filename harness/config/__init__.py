"""What a run is asked to do: the spec schema, reading YAML with line numbers, typed parameters, plug-ins.

Nothing here knows a model, a metric or a dataset: the registries check names and
parameters against this schema one layer up (`harness.sweep.points`).
"""
