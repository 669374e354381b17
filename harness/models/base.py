"""The interface every colorization model implements.

A model receives a batch of gray images (H x W uint8, sizes may differ within a batch)
and returns RGB images (H x W x 3 uint8) of the same sizes. Its spec parameters are a
pydantic model (`Params`), so a typo in the YAML is caught before any work starts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict


class NoParams(BaseModel):
    """Parameters of a model that takes none."""

    model_config = ConfigDict(extra="forbid")


class Colorizer(ABC):
    """Turns gray images into colour ones. Subclasses register with `@register_model`."""

    #: Registry name, set by `register_model`.
    name: ClassVar[str] = ""
    #: The model's spec parameters (extra keys forbidden).
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, params: BaseModel, device: str = "cpu"):
        self.params = params
        self.device = device

    @classmethod
    def preflight(cls, params: BaseModel) -> Path | None:
        """Check, before any image is loaded, that the model can run; return its weights file.

        Fetches missing official weights where that is allowed. Raises `HarnessError` with
        what to do when the model cannot run. Default: no weights, nothing to check.
        """
        return None

    @abstractmethod
    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colorize a batch: H x W uint8 gray images in, H x W x 3 uint8 RGB images out."""

    def stage_seconds(self) -> dict[str, float]:
        """Wall seconds spent inside the model per stage (preprocess, model, postprocess), if it knows."""
        return {}

    def describe(self) -> dict[str, str]:
        """Extra facts to log as run params (device, precision, weights path ...)."""
        return {"device": self.device}

    @property
    def weights_sha256(self) -> str | None:
        """sha256 of the weights file in use, or None for a model without weights."""
        return None

    def close(self) -> None:
        """Release memory held by the model (GPU memory in particular)."""
