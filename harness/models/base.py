"""The interface every colorization model implements.

A model receives a batch of gray images (H x W uint8, sizes may differ within a batch)
and returns RGB images (H x W x 3 uint8) of the same sizes. The batch it is given is the
spec's `batch_size`, and a model with a network runs it as one forward pass (halving it
only after an out-of-memory error), so `batch_size` means the same on every device. Its
spec parameters are a pydantic model (`Params`), so a typo in the YAML is caught before any
work starts.

A family of built-in variants (DeOldify Artistic/Stable/Video) is one class; `bind` makes
the per-variant class the registry hands out, with the variant's row of
`models/variants.py` and its parameter defaults.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, create_model

from harness.assets import weights as official
from harness.config.params import NoParams
from harness.errors import HarnessError
from harness.models.variants import Variant


def with_defaults(params: type[BaseModel], defaults: dict, name: str) -> type[BaseModel]:
    """`params` with some field defaults replaced (constraints and descriptions kept)."""
    if not defaults:
        return params
    fields = {}
    for key, value in defaults.items():
        info = copy.copy(params.model_fields[key])
        info.default = value
        fields[key] = (params.model_fields[key].annotation, info)
    return create_model(name, __base__=params, **fields)


class Colorizer(ABC):
    """Turns gray images into colour ones. Subclasses register with `@register_model`."""

    #: Registry name (the variant's name for a family), set by the registry.
    name: ClassVar[str] = ""
    #: The row of the variant table this class serves, None for a plugin model.
    variant: ClassVar[Variant | None] = None
    #: The model's spec parameters (extra keys forbidden).
    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, params: BaseModel, device: str = "cpu"):
        self.params = params
        self.device = device

    @classmethod
    def bind(cls, variant: Variant) -> type[Colorizer]:
        """The class for one variant of this family: its name, its row, its parameter defaults."""
        params = with_defaults(cls.Params, dict(variant.defaults), f"{cls.Params.__name__}[{variant.name}]")
        return type(f"{cls.__name__}[{variant.name}]", (cls,),
                    {"name": variant.name, "variant": variant, "Params": params, "__module__": cls.__module__})

    @classmethod
    def preflight(cls, params: BaseModel) -> Path | None:
        """Check, before any image is loaded, that the model can run; return its weights file.

        A `weights` parameter names a file explicitly; otherwise the variant's official
        file is fetched where allowed and verified. Raises `HarnessError` with what to do
        when the model cannot run. A model without weights returns None.
        """
        item = cls.variant.official_weights(params) if cls.variant is not None else None
        return official.resolve(getattr(params, "weights", None), item, f"model {cls.name}")

    @classmethod
    def write_random_weights(cls, path: Path, params: BaseModel | None = None, seed: int = 0) -> Path:
        """Write random weights of this model's architecture (for `params`, where it depends on them),
        in its official file format, to `path`: for tests and speed benchmarks where the official file
        is not available, never for results."""
        raise HarnessError(f"Model {cls.name} has no random-weights writer.")

    @classmethod
    def network(cls, params: BaseModel):
        """The network one image goes through, freshly built (any weights), and the shape of its
        input for one image, e.g. `(net, (1, 3, 560, 560))`; None for a model without one."""
        return None

    @classmethod
    def flops_per_image(cls, params: BaseModel) -> float | None:
        """FLOPs of `network` on one image (torch's counter: 2 per multiply-add), counted without
        weights or compute: built on the meta device, given uninitialised CPU storage, run on fake
        tensors (a few seconds at most). None where the model has no network."""
        import torch
        from torch._subclasses.fake_tensor import FakeTensorMode
        from torch.utils.flop_counter import FlopCounterMode

        with torch.device("meta"):
            built = cls.network(params)
        if built is None:
            return None
        net, shape = built
        net = net.to_empty(device="cpu").eval()
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(torch.empty(shape))
        return float(counter.get_total_flops())

    @abstractmethod
    def colorize(self, grays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Colorize a batch: H x W uint8 gray images in, H x W x 3 uint8 RGB images out."""

    def stage_seconds(self) -> dict[str, float]:
        """Wall seconds spent inside the model per stage (preprocess, model, postprocess), if it knows."""
        return {}

    def describe(self) -> dict[str, str]:
        """Facts that hold before the run, logged as run params (architecture, weights path ...)."""
        return {}

    def describe_run(self) -> dict[str, str]:
        """Facts known only after the run (the forward-pass batch actually used ...), logged then."""
        return {}

    def warnings(self) -> list[str]:
        """Fallbacks the model took (a smaller forward batch after out-of-memory ...), each a sentence with
        its reason: shown on the run and in the output, never silent."""
        return []

    def close(self) -> None:
        """Release memory held by the model (GPU memory in particular)."""
