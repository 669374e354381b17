"""A spec's sweep, run: its points, what makes a run reusable, how the work is divided and resumed.

`points` expands a spec into sweep points; `preflight` resolves every weights file first;
`identity` is what a run key hashes; `resume` finds reusable runs and closes dead ones;
`shards` cuts a model setting's images into journaled shards; `setting` is the one
composition of the pipeline (compute, assemble, render), which `experiment` (`harness run`)
and `evaluate` (Python, no store) share; `dryrun` prices a sweep before it runs.
"""
