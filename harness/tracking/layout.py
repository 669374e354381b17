"""How the harness lays out its runs in the tracking store: every tag name and shared artifact name.

One parent run per `harness run` (tag `harness.kind` = sweep), one child run per sweep point
(`harness.kind` = point) carrying its run key and label and nested under the parent by
MLflow's parent tag. The parent lists its points, fresh and reused, in `harness.children`,
and what happened to each in `outcomes.json`; a point records what its key hashes in
`run_key.json`. Every module that writes or reads these names takes them from here.
"""

from __future__ import annotations

KIND = "harness.kind"  # SWEEP | POINT
SWEEP, POINT = "sweep", "point"
KEY = "harness.run_key"  # a point's run key: the hash of what changes its numbers
LABEL = "harness.label"
MODEL = "harness.model"
SPLIT = "harness.split"
CHILDREN = "harness.children"  # JSON list of a sweep's point run ids, fresh and reused
FAILED = "harness.failed"  # a sweep's failed point labels
HOST = "harness.host"  # the machine and process that own a RUNNING run
PID = "harness.pid"
VERSION = "harness.version"
NOTE = "harness.note"  # why the harness closed a run itself (left RUNNING by a killed process)
FIRST_PARENT = "harness.first_parent"  # the sweep that first produced a point run another sweep reuses
WARNINGS = "harness.warnings"  # a point's fallbacks, one per line, each with its reason
METRIC_NOTE = "harness.metric_note."  # + metric name: why it has no value, or a caveat on it
PARENT = "mlflow.parentRunId"  # MLflow's own nesting tag
DESCRIPTION = "mlflow.note.content"  # MLflow's run description (markdown), shown in the UI
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")  # marks the experiment as model training
#: MLflow 3's UI opens on its GenAI overview whatever the experiment kind says, unless the URL asks for
#: `workflowType=machine_learning`; `viewStateShareKey=VIEW_KEY` then applies the view saved in the
#: experiment tag VIEW_STATE (the latest sweep's points, its main metrics as columns): `harness ui` prints it.
VIEW_KEY = "harness-latest-sweep"
VIEW_STATE = f"mlflow.sharedViewState.{VIEW_KEY}"
UI_QUERY = f"workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"
DATASET_CONTEXT = ("mlflow.data.context", "evaluation")

#: artifacts written by one module and read by another
OUTCOMES = "outcomes.json"  # sweep: each point's status, run id and message
SWEEP_FILE = "sweep.json"  # sweep: the resolved spec and its points
RUN_KEY_FILE = "run_key.json"  # point: the identity its run key hashes
PER_IMAGE_CSV = "per_image.csv"
PER_CLIP_CSV = "per_clip.csv"  # point of a video run: temporal scores per clip
PER_IMAGE_TABLE = "per_image.json"  # the same rows as an MLflow table
GRID = "grids/samples.png"
THUMBS = "report/thumbs.zip"  # point: JPEG thumbnails of the report's images, <kind>/<image id>.jpg
REPORT = "report.html"  # sweep: the self-contained comparison report

#: a human-judgement study (`harness study`): one run per study, a child of its sweep (PARENT)
STUDY_KIND = "study"  # its KIND
STUDY = "harness.study"  # the study id
STUDY_TYPE = "harness.study_kind"  # preference | real-or-fake
STUDY_RESULTS = "study.json"  # what `harness study results --format json` prints
STUDY_VOTES = "votes.csv"  # rater,image_id,left,right,choice
