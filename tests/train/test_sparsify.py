"""Gradual magnitude pruning: the cubic schedule, masks that only grow, pruned weights that stay zero."""

import pytest
import torch

from edgeasr import _core
from edgeasr.kernels import QuantizedMatrix
from edgeasr.train.qat import export_view
from edgeasr.train.sparsify import Pruner, PruningSchedule, cubic_sparsity

from test_qat import tiny_model

def test_cubic_schedule():
    assert cubic_sparsity(0, 0.5, 10, 110) == 0.0
    assert cubic_sparsity(10, 0.5, 10, 110) == 0.0
    assert cubic_sparsity(60, 0.5, 10, 110) == pytest.approx(0.5 * (1 - 0.5 ** 3))
    assert cubic_sparsity(110, 0.5, 10, 110) == 0.5 and cubic_sparsity(500, 0.5, 10, 110) == 0.5
    assert cubic_sparsity(0, 0.5, 0, 0) == 0.5  # start == end: all at once
    values = [cubic_sparsity(s, 0.7, 0, 100) for s in range(0, 101, 10)]
    steps = [b - a for a, b in zip(values, values[1:])]
    assert all(d > 0 for d in steps) and all(a > b for a, b in zip(steps, steps[1:]))  # rising, ever slower
    schedule = PruningSchedule(0.5, start_step=10, end_step=45, every=10)
    assert [s for s in range(60) if schedule.is_update(s)] == [10, 20, 30, 40, 45]
    for bad, match in ((dict(target=1.0), "target"), (dict(target=0.5, start_step=5, end_step=2), "end_step"),
                       (dict(target=0.5, every=0), "every")):
        with pytest.raises(ValueError, match=match):
            PruningSchedule(**bad).validate()


def test_masks_grow_on_schedule_and_pruned_weights_stay_zero():
    model = tiny_model()
    pruner = Pruner(model, PruningSchedule(0.5, start_step=2, end_step=12, every=5))
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)
    previous = {k: m.clone() for k, m in pruner.masks.items()}
    seen = []
    for step in range(16):
        if pruner.update(step):
            seen.append(step)
            for name, mask in pruner.masks.items():
                assert not torch.any(mask & ~previous[name]), name  # a pruned weight never comes back
                n = mask.numel()
                assert int((~mask).sum()) == round(pruner.schedule.sparsity(step) * n), (name, step)
            previous = {k: m.clone() for k, m in pruner.masks.items()}
        x = torch.randn(2, 12, 10)
        loss = model(x, torch.tensor([12, 9]), torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        pruner.apply()
        for name, w in export_view(model).items():
            assert torch.all(w.detach()[~pruner.masks[name]] == 0), (name, step)
    assert seen == [2, 7, 12]
    assert all(abs(s - 0.5) < 0.01 for s in pruner.sparsity().values())


def test_the_first_mask_is_the_codecs_magnitude_mask():
    """Pruning once to the target drops what export's magnitude pruning drops (same count, same ties)."""
    model = tiny_model(seed=3)
    pruner = Pruner(model, PruningSchedule(0.7, start_step=0, end_step=0))
    before = {k: v.detach().clone() for k, v in export_view(model).items()}
    assert pruner.update(0)
    for name, w in before.items():
        codec_keep = torch.from_numpy(_core.magnitude_keep_mask(w.numpy(), 0.7)).bool()
        assert torch.equal(pruner.masks[name], codec_keep), name
        dense = QuantizedMatrix.from_float(w.numpy(), bits=8, sparsity=0.7)  # what export_model drops
        assert torch.equal(torch.from_numpy(dense.to_int8() != 0), codec_keep & (torch.from_numpy(dense.to_int8()) != 0))


def test_masks_round_trip_through_state_dict():
    model = tiny_model()
    pruner = Pruner(model, PruningSchedule(0.5, start_step=0, end_step=0))
    pruner.update(0)
    other = tiny_model(seed=1)
    restored = Pruner(other, PruningSchedule(0.5, start_step=0, end_step=0))
    restored.load_state_dict(pruner.state_dict())
    for name in pruner.masks:
        assert torch.equal(restored.masks[name], pruner.masks[name])
        assert torch.all(export_view(other)[name].detach()[~pruner.masks[name]] == 0)
    with pytest.raises(ValueError, match="masks"):
        restored.load_state_dict({"joiner.output.weight": pruner.masks["joiner.output.weight"]})
