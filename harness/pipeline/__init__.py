"""One sweep point's images through one model: decode -> gray -> colorize (batched) -> score, then reduce.

`process` streams some samples (a shard) through a loaded model and a `PairScorer`;
`assemble` reduces the rows of any set of images to a point's numbers (`Reducer` for the
dataset metrics); `render` colorizes the few images a point shows, while the model is
loaded. The types they trade are in `types`. Knows nothing of shards' journal, executors or
MLflow.
"""
