"""Quantization-aware training: fake quantization is the kernels' quantization, bit for bit, and learns through it."""

import numpy as np
import pytest
import torch

from edgeasr.kernels import QuantizedMatrix, quantize_activations
from edgeasr.train.export import folded_input_proj, quantized_matrix_names
from edgeasr.train.model import ModelConfig, Transducer
from edgeasr.train.qat import (export_view, fake_quantize, fake_quantize_activations, level_penalty, penalty_weight,
                               pull_to_levels_, qat_logits, quantize_rows)

QMAX = {8: 127, 4: 7}


def awkward_matrix(bits, seed=0):
    """Rows of different ranges, an all-zero row, a row too small to have a scale, and exact rounding ties."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(29, 75, generator=g) * torch.rand(29, 1, generator=g) * 3
    w[3] = 0.0
    w[4] = 1e-40
    w[5] = 0.0
    w[5, 0] = QMAX[bits] / 16  # the scale is exactly 1/16, so the next weights sit exactly on ties (k / 2 steps)
    w[5, 1:12] = torch.arange(1, 12) / 32 * torch.tensor([1.0, -1.0]).repeat(6)[:11]
    return w


@pytest.mark.parametrize("bits", [8, 4])
def test_fake_quantization_is_the_exports_quantization(bits):
    w = awkward_matrix(bits)
    exported = QuantizedMatrix.from_float(w.numpy(), bits=bits)
    q, scales = quantize_rows(w, bits)
    np.testing.assert_array_equal(q.numpy().astype(np.int8), exported.to_int8())
    np.testing.assert_array_equal(scales.numpy(), exported.scales)
    np.testing.assert_allclose(fake_quantize(w, bits).detach().numpy(), exported.to_float(), rtol=0, atol=1e-7)
    # The ties round away from zero, as std::lround does (torch.round would go to the even neighbour).
    assert exported.scales[5] == 1 / 16
    assert np.array_equal(np.abs(exported.to_int8()[5, 1:12]), (np.arange(1, 12) + 1) // 2)


@pytest.mark.parametrize("bits", [8, 4])
def test_fake_quantization_with_a_keep_mask_matches_sparse_export(bits):
    w = awkward_matrix(bits, seed=1)
    keep = torch.rand(w.shape, generator=torch.Generator().manual_seed(2)) > 0.6
    keep[:, 0] = True
    w[0, 0] = 50.0  # the largest weight of row 0 ...
    keep[0, 0] = False  # ... dropped: row 0's scale comes from the kept weights only
    exported = QuantizedMatrix.from_float(w.numpy(), bits=bits, sparsity=keep.numpy())
    fq = fake_quantize(w, bits, keep)
    np.testing.assert_allclose(fq.detach().numpy(), exported.to_float(), rtol=0, atol=1e-7)
    assert np.all(fq.detach().numpy()[~keep.numpy()] == 0)
    assert float(quantize_rows(w, bits, keep)[1][0]) < 50.0 / QMAX[bits]


def test_straight_through_gradient():
    w = torch.randn(6, 9, requires_grad=True)
    keep = torch.rand(6, 9) > 0.5
    upstream = torch.randn(6, 9)
    (fake_quantize(w, 4, keep) * upstream).sum().backward()
    torch.testing.assert_close(w.grad, upstream * keep)
    x = torch.randn(3, 9, requires_grad=True)
    (fake_quantize_activations(x) * upstream[:3]).sum().backward()
    torch.testing.assert_close(x.grad, upstream[:3])


def test_activation_rounding_is_the_kernels():
    x = torch.randn(7, 70) * torch.rand(7, 1) * 10
    x[2] = 0.0
    x[3, :5] = torch.tensor([0.5, -0.5, 1.5, -2.5, 127.0]) * (float(x[3].abs().max()) / 127)
    xq, scales = quantize_activations(x.numpy())
    expected = xq[:, :70].astype(np.float32) * scales[:, None]
    np.testing.assert_array_equal(fake_quantize_activations(x).numpy(), expected)
    y = fake_quantize_activations(x.view(7, 2, 35))  # rows are the last dimension whatever the leading ones
    assert y.shape == (7, 2, 35) and not torch.equal(y, x.view(7, 2, 35))


def test_level_penalty_is_zero_on_the_levels_and_pulls_towards_them():
    torch.manual_seed(0)
    w = torch.randn(8, 20)
    on_grid = fake_quantize(w, 4).detach()
    assert float(level_penalty({"m": on_grid}, 4)) < 1e-10
    assert float(level_penalty({"m": w}, 4)) > 0.1
    p = w.clone().requires_grad_(True)
    opt = torch.optim.SGD([p], lr=0.1)
    start = float((p - fake_quantize(p, 4)).detach().abs().mean())
    for _ in range(200):
        opt.zero_grad()
        level_penalty({"m": p}, 4).backward()
        opt.step()
    end = float((p - fake_quantize(p, 4)).detach().abs().mean())
    assert end < 0.01 * start, (start, end)
    # Dropped weights do not count.
    keep = torch.zeros(8, 20, dtype=torch.bool)
    keep[:, :4] = True
    kept_on_grid = torch.where(keep, fake_quantize(w, 4, keep).detach(), w)  # scales from the kept weights
    assert float(level_penalty({"m": kept_on_grid}, 4, {"m": keep})) < 1e-10
    with pytest.raises(ValueError, match="bits"):
        level_penalty({"m": w}, 3)


def test_penalty_schedule():
    assert penalty_weight(5, 0.5, start_step=10, ramp_steps=10) == 0.0
    assert penalty_weight(10, 0.5, start_step=10, ramp_steps=10) == pytest.approx(0.05)
    assert penalty_weight(14, 0.5, start_step=10, ramp_steps=10) == pytest.approx(0.25)
    assert penalty_weight(100, 0.5, start_step=10, ramp_steps=10) == 0.5
    assert penalty_weight(0, 0.5) == 0.5


TINY = ModelConfig(num_features=10, stack=3, d_model=16, hidden=24, num_layers=2, decoder_dim=12, context_size=2,
                   joiner_dim=14, vocab_size=6, dropout=0.0)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    model = Transducer(TINY)
    model.encoder.set_normalization(torch.randn(10) * 3 - 7, torch.rand(10) * 3 + 0.5)
    return model.eval()


def distance_to_levels(model, bits, masks=None):
    """Per matrix as export sees it: mean |w - nearest level| over kept weights, in quantization steps."""
    out = {}
    for name, w in export_view(model).items():
        keep = None if masks is None else masks.get(name)
        q, scales = quantize_rows(w.detach(), bits, keep)
        d = (w.detach().double() / scales.double()[:, None] - q).abs()
        out[name] = float(d[keep].mean() if keep is not None else d.mean())
    return out


@pytest.mark.parametrize("bits", [8, 4])
def test_pull_to_levels_takes_a_fraction_of_the_distance_and_keeps_the_levels(bits):
    model = tiny_model()
    before = {k: v.detach().clone() for k, v in export_view(model).items()}
    levels = {k: quantize_rows(v, bits) for k, v in before.items()}
    pull_to_levels_(model, bits, 0.25)
    for name, w in export_view(model).items():
        q, scales = levels[name]
        s = scales.double()[:, None]
        d0 = before[name].double() / s - q      # in steps, in [-1/2, 1/2]
        d1 = w.detach().double() / s - q
        # (s / 2 pi) sin(2 pi d): a quarter of the distance near a level, less further out, never past the level
        expected = d0 - 0.25 * torch.sin(2 * np.pi * d0) / (2 * np.pi)
        torch.testing.assert_close(d1, expected, atol=2e-5, rtol=0)
        assert bool((d1.abs() <= d0.abs() + 1e-6).all())
        q1, scales1 = quantize_rows(w.detach(), bits)  # the same levels, the same scales
        assert torch.equal(q1, q)
        torch.testing.assert_close(scales1, scales, rtol=1e-6, atol=0)
    # the folded input projection moved in its own (export's) units: the raw parameter carries the std factor
    assert not torch.equal(model.encoder.input_proj.weight, tiny_model().encoder.input_proj.weight)


def test_pull_to_levels_converges_spares_dropped_weights_and_checks_its_arguments():
    model = tiny_model()
    name = "joiner.output.weight"
    keep = torch.rand(model.joiner.output.weight.shape, generator=torch.Generator().manual_seed(1)) > 0.5
    with torch.no_grad():
        model.joiner.output.weight.mul_(keep)  # dropped weights are zero, as the pruner leaves them
    masks = {name: keep}
    start = distance_to_levels(model, 4, masks)
    for _ in range(60):
        pull_to_levels_(model, 4, 0.2, masks)
    end = distance_to_levels(model, 4, masks)
    for k in start:
        assert end[k] < 0.01 * start[k], (k, start[k], end[k])
    assert float(level_penalty(export_view(model), 4, masks).detach()) < 1e-4
    assert bool((model.joiner.output.weight[~keep] == 0).all())
    unchanged = tiny_model()
    pull_to_levels_(unchanged, 4, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(unchanged.parameters(), tiny_model().parameters()))
    with pytest.raises(ValueError, match="fraction"):
        pull_to_levels_(model, 4, 1.5)
    with pytest.raises(ValueError, match="bits"):
        pull_to_levels_(model, 3, 0.1)


def test_export_view_is_exports_set_and_form():
    model = tiny_model()
    view = export_view(model)
    assert list(view) == quantized_matrix_names(TINY)
    torch.testing.assert_close(view["encoder.input_proj.weight"].detach(), folded_input_proj(model)[0].float())
    assert view["joiner.output.weight"] is model.joiner.output.weight
    view["encoder.input_proj.weight"].sum().backward()  # differentiable back to the parameter
    assert model.encoder.input_proj.weight.grad is not None


def test_float_path_of_the_qat_forward_is_the_models_forward():
    """bits 0 (no rounding): the step-by-step LSTM and the folded input projection give nn.LSTM's outputs."""
    model = tiny_model()
    x = torch.randn(2, 22, 10) * 3 - 7
    lengths = torch.tensor([22, 13])
    y = torch.tensor([[1, 2, 3], [4, 5, 0]])
    y_lengths = torch.tensor([3, 2])
    logits, enc, enc_lengths = qat_logits(model, x, lengths, y, y_lengths, bits=0)
    ref_enc, ref_lengths, _ = model.encoder(x, lengths)
    assert torch.equal(enc_lengths, ref_lengths)
    for i, n in enumerate(ref_lengths.tolist()):  # valid frames only: padding is not packed away here
        torch.testing.assert_close(enc[i, :n], ref_enc[i, :n], rtol=1e-4, atol=1e-5)
    from edgeasr.train.model import make_context

    ref = model.joiner(ref_enc.unsqueeze(2), model.decoder(make_context(y, y_lengths, 2)).unsqueeze(1))
    torch.testing.assert_close(logits[0], ref[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bits", [8, 4])
def test_qat_forward_is_close_to_float_and_trains(bits):
    model = tiny_model().train()
    x = torch.randn(2, 18, 10) * 3 - 7
    lengths = torch.tensor([18, 18])
    y = torch.tensor([[1, 2], [3, 4]])
    y_lengths = torch.tensor([2, 2])
    float_logits, _, _ = qat_logits(model, x, lengths, y, y_lengths, bits=0)
    logits, _, _ = qat_logits(model, x, lengths, y, y_lengths, bits=bits)
    diff = float((logits - float_logits).detach().abs().max())
    assert 0 < diff < (0.05 if bits == 8 else 0.6), diff
    logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters()
               if "weight" in n and "ctc" not in n)
