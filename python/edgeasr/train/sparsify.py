"""Gradual magnitude pruning (Zhu & Gupta, "To prune, or not to prune", 2017).

The sparsity at step t rises on a cubic ramp from 0 at ``start_step`` to ``target`` at ``end_step``:
s(t) = target * (1 - (1 - (t - start) / (end - start))^3), steep at first while the network can still recover, flat
at the end. Masks change only at schedule points (every ``every`` steps from ``start_step``, and at ``end_step``);
each update drops the smallest-magnitude weights still kept until the matrix has round(s(t) * size) zeros (the count
``QuantizedMatrix.from_float`` drops for the same fraction), and a dropped weight never comes back. The pruned
weights are set to zero after every optimizer step (``apply``), so the parameters themselves are what export
writes; the masks travel in the checkpoint (``state_dict``) so a resumed run continues with the same ones.

Magnitudes are those of the matrices as export quantizes them (``qat.export_view``: the input projection with the
feature normalization folded in), so the ranking is the one the stored file reflects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
from torch import Tensor

from edgeasr.train.model import Transducer
from edgeasr.train.qat import export_view

__all__ = ["PruningSchedule", "Pruner", "cubic_sparsity"]


def cubic_sparsity(step: int, target: float, start_step: int, end_step: int) -> float:
    """Zhu & Gupta's schedule: 0 up to ``start_step``, ``target`` from ``end_step`` on, the cubic ramp between."""
    if step >= end_step:
        return float(target)
    if step <= start_step:
        return 0.0
    frac = (step - start_step) / (end_step - start_step)
    return float(target) * (1.0 - (1.0 - frac) ** 3)


@dataclass
class PruningSchedule:
    target: float            # final fraction of zeros per matrix, in [0, 1)
    start_step: int = 0
    end_step: int = 0        # the target is reached here (== start_step: all at once)
    every: int = 100         # steps between mask updates on the ramp

    def validate(self) -> None:
        if isinstance(self.target, bool) or not 0.0 <= self.target < 1.0:
            raise ValueError(f"target: the sparsity must lie in [0, 1), got {self.target!r}")
        if self.start_step < 0 or self.end_step < self.start_step:
            raise ValueError(f"end_step: need 0 <= start_step <= end_step, got {self.start_step}, {self.end_step}")
        if self.every < 1:
            raise ValueError(f"every: steps between mask updates must be >= 1, got {self.every}")

    def is_update(self, step: int) -> bool:
        """Whether the masks are recomputed before optimizer step ``step``."""
        if step < self.start_step or step > self.end_step or self.target == 0:
            return False
        return step == self.end_step or (step - self.start_step) % self.every == 0

    def sparsity(self, step: int) -> float:
        return cubic_sparsity(step, self.target, self.start_step, self.end_step)


class Pruner:
    """Keep-masks for the model's quantized matrices (model-file names), on a ``PruningSchedule``."""

    def __init__(self, model: Transducer, schedule: PruningSchedule):
        schedule.validate()
        self.model = model
        self.schedule = schedule
        self._params = dict(model.named_parameters())
        with torch.no_grad():
            self.masks: dict[str, Tensor] = {name: torch.ones_like(w, dtype=torch.bool)
                                             for name, w in export_view(model).items()}

    def _param(self, name: str) -> Tensor:
        """The parameter behind a model-file matrix (input_proj's folded form has the same zero positions)."""
        return self._params[name]

    @torch.no_grad()
    def update(self, step: int) -> bool:
        """Recompute the masks if ``step`` is a schedule point (then zero the newly pruned weights); True if so."""
        if not self.schedule.is_update(step):
            return False
        sparsity = self.schedule.sparsity(step)
        for name, w in export_view(self.model).items():
            mask = self.masks[name]
            drop = int(round(sparsity * w.numel()))
            already = int((~mask).sum())
            if drop > already:
                # Pruned weights rank below every kept one, so they stay pruned; ties go to the lower index, as
                # the codec's magnitude mask breaks them.
                score = w.abs().double().flatten().masked_fill(~mask.flatten(), -1.0)
                order = torch.argsort(score, stable=True)
                new_mask = torch.ones(w.numel(), dtype=torch.bool, device=w.device)
                new_mask[order[:drop]] = False
                self.masks[name] = new_mask.view_as(mask) & mask
        self.apply()
        return True

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the pruned weights (after every optimizer step: the update may have moved them)."""
        for name, mask in self.masks.items():
            self._param(name).mul_(mask.to(self._param(name).dtype))

    def sparsity(self) -> dict[str, float]:
        """The fraction of each matrix the masks drop."""
        return {name: 1.0 - float(m.float().mean()) for name, m in self.masks.items()}

    def state_dict(self) -> dict[str, Tensor]:
        return {name: m.clone() for name, m in self.masks.items()}

    def load_state_dict(self, masks: Mapping[str, Tensor]) -> None:
        if set(masks) != set(self.masks):
            raise ValueError(f"masks: expected masks for {sorted(self.masks)}, got {sorted(masks)}")
        for name, m in masks.items():
            if m.shape != self.masks[name].shape:
                raise ValueError(f"masks: {name} has shape {tuple(m.shape)}, expected {tuple(self.masks[name].shape)}")
            self.masks[name] = m.bool().to(self.masks[name].device, copy=True)
        self.apply()
