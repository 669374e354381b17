"""torch's legacy `spectral_norm` state, as DDColor's and ColorFormer's checkpoints store it.

A spectrally normalised weight is kept as `weight_orig` with the power-iteration vectors `weight_u`
and `weight_v`; at inference the weight is `weight_orig / (u . W v)` with the stored vectors (what
torch's hook computes in eval mode), and a checkpoint of random weights warms the vectors first, as
training would. Each family's convolution keeps its own parameters and forward pass; this is the
arithmetic they share.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class SpectralVectors:
    """`sigma` and `power_iteration_` over a module's `weight_orig`, `weight_u` and `weight_v`."""

    weight_orig: torch.Tensor
    weight_u: torch.Tensor
    weight_v: torch.Tensor

    def sigma(self) -> torch.Tensor:
        """The spectral-norm estimate u . (W v) from the stored vectors (no power iteration)."""
        w = self.weight_orig.float().flatten(1)
        return torch.dot(self.weight_u.float(), torch.mv(w, self.weight_v.float()))

    @torch.no_grad()
    def power_iteration_(self, steps: int) -> None:
        """Move u and v towards W's leading singular vectors (what training does, one step per pass)."""
        w = self.weight_orig.float().flatten(1)
        u, v = self.weight_u.float(), self.weight_v.float()
        for _ in range(steps):
            v = F.normalize(torch.mv(w.t(), u), dim=0, eps=1e-12)
            u = F.normalize(torch.mv(w, v), dim=0, eps=1e-12)
        self.weight_u.copy_(u)
        self.weight_v.copy_(v)
