"""Human judgement of a sweep's outputs: pairwise preference and "which is real?" studies.

`create` builds a study from finished points (their kept thumbnails, the scored outputs), `store`
keeps it in SQLite beside the tracking store, `server` serves it to raters, `stats` ranks the
votes (Bradley-Terry, bootstrap CIs, fooling rates) and `results` prints, exports and logs them.
"""
