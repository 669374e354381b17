"""Every official weights file the harness knows, by the name `harness weights` takes.

The files come from the tables that own them: the model variants (`models/variants.py`)
and the metrics that need a network; this module only joins them.
"""

from __future__ import annotations

from harness.assets.weights import WeightsFile
from harness.errors import unknown_name
from harness.metrics import get_metric, metric_names
from harness.models.variants import VARIANTS


def weights_files() -> dict[str, WeightsFile]:
    """Catalogue name -> official file, models first, then the metrics' networks."""
    files = {item.name: item for v in VARIANTS.values() for item in v.weights_files()}
    files.update({item.name: item for name in metric_names() for item in get_metric(name).weights_files()})
    return files


def weights_file(name: str) -> WeightsFile:
    """The official file named `name`; a HarnessError suggesting the closest name otherwise."""
    files = weights_files()
    try:
        return files[name]
    except KeyError:
        raise unknown_name("official weights file", name, files) from None
