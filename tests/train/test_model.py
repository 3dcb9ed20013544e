"""The RNN-T model: sizes, shapes, exact streaming, the stateless decoder's context, and that it learns."""

from __future__ import annotations

import dataclasses

import numpy as np

import pytest
import torch

from edgeasr.train.model import (
    BLANK, Decoder, ModelConfig, Transducer, make_context, student_config, teacher_config,
)

torch.set_num_threads(1)
# torch says once that oneDNN has no projected LSTM and it uses its own kernel: expected, not a problem.
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

STREAM_TOL = 1e-5  # whole utterance vs chunk by chunk, float32, eval mode


def tiny_config(**kw) -> ModelConfig:
    base = dict(num_features=12, stack=4, d_model=16, hidden=24, num_layers=2, decoder_dim=16, context_size=2,
                joiner_dim=20, vocab_size=9, dropout=0.1)
    base.update(kw)
    return ModelConfig(**base)


def test_parameter_counts():
    student = Transducer(student_config()).num_parameters()
    teacher = Transducer(teacher_config()).num_parameters()
    assert 1_000_000 <= student <= 3_000_000
    assert 9 <= teacher / student <= 11.5
    # The count is the sum over the three parts, and it follows the config.
    m = Transducer(student_config())
    assert student == sum(sum(p.numel() for p in part.parameters()) for part in (m.encoder, m.decoder, m.joiner))
    assert Transducer(student_config(vocab_size=500)).num_parameters() > student


def test_shapes_and_state_layout():
    cfg = tiny_config()
    model = Transducer(cfg).eval()
    n, t = 3, 37
    feats = torch.randn(n, t, cfg.num_features)
    enc, enc_lengths, (h, c) = model.encoder(feats, torch.tensor([37, 20, 3]))
    assert enc.shape == (n, t // cfg.stack, cfg.d_model)
    assert enc_lengths.tolist() == [9, 5, 0]
    assert h.shape == (cfg.num_layers, n, cfg.d_model)
    assert c.shape == (cfg.num_layers, n, cfg.hidden)
    dec = model.decoder(torch.zeros(n, 4, cfg.context_size, dtype=torch.long))
    assert dec.shape == (n, 4, cfg.decoder_dim)
    logits = model.joiner(enc.unsqueeze(2), dec.unsqueeze(1))
    assert logits.shape == (n, t // cfg.stack, 4, cfg.vocab_size)
    # joint() after the projections is the same joiner.
    torch.testing.assert_close(
        model.joiner.joint(model.joiner.enc_proj(enc[:, :, None]), model.joiner.dec_proj(dec[:, None])), logits)


@pytest.mark.parametrize("chunk", [8, 32])
def test_streaming_equals_whole_utterance(chunk):
    torch.manual_seed(0)
    cfg = student_config()
    encoder = Transducer(cfg).encoder.eval()
    n, t = 2, 100  # not a multiple of the chunk: the last chunk is shorter, still a multiple of stack
    feats = torch.randn(n, t, cfg.num_features)
    with torch.no_grad():
        whole, whole_len, whole_states = encoder(feats, torch.full((n,), t))
        pieces, states = [], None
        for start in range(0, t, chunk):
            part = feats[:, start:start + chunk]
            out, _, states = encoder(part, torch.full((n,), part.shape[1]), states)
            pieces.append(out)
    streamed = torch.cat(pieces, 1)
    assert streamed.shape == whole.shape
    assert (streamed - whole).abs().max() < STREAM_TOL
    for a, b in zip(states, whole_states):
        assert (a - b).abs().max() < STREAM_TOL
    # A chunk that is not a multiple of stack drops its ragged tail: the caller buffers those frames.
    assert encoder(feats[:, :10], torch.full((n,), 10))[0].shape[1] == 10 // cfg.stack


def test_ragged_batch_states_are_taken_at_each_items_end():
    """A short item in a batch ends up in the state it would have alone, and an item with no frames keeps its own."""
    torch.manual_seed(1)
    cfg = tiny_config()
    encoder = Transducer(cfg).encoder.eval()
    feats = torch.randn(3, 24, cfg.num_features)
    lengths = torch.tensor([24, 12, 2])  # 6, 3 and 0 encoder steps
    start = encoder.init_states(3)
    start = (torch.randn_like(start[0]), torch.randn_like(start[1]))
    with torch.no_grad():
        out, out_len, (h, c) = encoder(feats, lengths, start)
        for i, length in enumerate(lengths.tolist()):
            alone_out, _, (h1, c1) = encoder(feats[i:i + 1, :length], lengths[i:i + 1],
                                             (start[0][:, i:i + 1], start[1][:, i:i + 1]))
            k = int(out_len[i])
            torch.testing.assert_close(out[i:i + 1, :k], alone_out, atol=1e-6, rtol=0)
            torch.testing.assert_close(h[:, i:i + 1], h1, atol=1e-6, rtol=0)
            torch.testing.assert_close(c[:, i:i + 1], c1, atol=1e-6, rtol=0)
    torch.testing.assert_close(h[:, 2], start[0][:, 2])


def test_decoder_context():
    targets = torch.tensor([[5, 6, 7], [3, -1, -1], [-1, -1, -1]])
    ctx = make_context(targets, torch.tensor([3, 1, 0]), context_size=2)
    assert ctx.shape == (3, 4, 2)
    assert ctx[0].tolist() == [[BLANK, BLANK], [BLANK, 5], [5, 6], [6, 7]]
    assert ctx[1].tolist() == [[BLANK, BLANK], [BLANK, 3], [3, BLANK], [BLANK, BLANK]]
    assert ctx[2].tolist() == [[BLANK, BLANK]] * 4
    assert make_context(targets, torch.tensor([3, 1, 0]), context_size=1)[0].tolist() == [[BLANK], [5], [6], [7]]

    torch.manual_seed(2)
    decoder = Decoder(tiny_config(vocab_size=9, context_size=2))
    # Only the last context_size tokens matter, and their order does.
    a = decoder(make_context(torch.tensor([[1, 2, 3]]), torch.tensor([3]), 2))
    b = decoder(make_context(torch.tensor([[8, 2, 3]]), torch.tensor([3]), 2))
    torch.testing.assert_close(a[:, 3], b[:, 3])
    assert not torch.allclose(a[:, 2], b[:, 2])
    swapped = decoder(torch.tensor([[[3, 2]]]))
    assert not torch.allclose(a[:, 3], swapped[:, 0])
    # The start context is all blanks: the same for every item.
    start = decoder(torch.full((2, 1, 2), BLANK))
    torch.testing.assert_close(start[0], start[1])
    torch.testing.assert_close(a[0, 0], start[0, 0])


def overfit(seed: int, steps: int = 30) -> list[float]:
    torch.manual_seed(seed)
    cfg = tiny_config(dropout=0.0)
    model = Transducer(cfg)
    feats = torch.randn(2, 40, cfg.num_features)
    feat_lengths = torch.tensor([40, 32])
    targets = torch.tensor([[1, 5, 2, 7], [3, 3, 8, -1]])
    target_lengths = torch.tensor([4, 3])
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(steps):
        loss = model(feats, feat_lengths, targets, target_lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_loss_is_finite_decreases_and_is_deterministic():
    losses = overfit(seed=3)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.3 * losses[0], losses
    assert overfit(seed=3) == losses


def test_chunked_joiner_gives_the_same_loss_and_gradients():
    torch.manual_seed(4)
    cfg = tiny_config(dropout=0.0)
    model = Transducer(cfg)
    feats = torch.randn(2, 40, cfg.num_features)
    args = (feats, torch.tensor([40, 29]), torch.tensor([[1, 5, 2], [3, 4, 0]]), torch.tensor([3, 2]))
    full = model(*args)
    want = torch.autograd.grad(full, list(model.parameters()))
    chunked = model(*args, chunk_frames=3)
    got = torch.autograd.grad(chunked, list(model.parameters()))
    torch.testing.assert_close(chunked, full, atol=1e-5, rtol=1e-6)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)


def test_config_validation():
    with pytest.raises(ValueError, match="hidden"):
        Transducer(tiny_config(d_model=32, hidden=32))
    with pytest.raises(ValueError, match="vocab_size"):
        Transducer(tiny_config(vocab_size=1))
    with pytest.raises(ValueError, match="dropout"):
        Transducer(tiny_config(dropout=1.0))
    with pytest.raises(ValueError, match="stack"):
        Transducer(tiny_config(stack=0))
    model = Transducer(tiny_config())
    with pytest.raises(ValueError, match="features"):
        model.encoder(torch.zeros(1, 8, 5), torch.tensor([8]))
    with pytest.raises(ValueError, match="lengths"):
        model.encoder(torch.zeros(1, 8, 12), torch.tensor([9]))
    with pytest.raises(ValueError, match="states"):
        model.encoder(torch.zeros(1, 8, 12), torch.tensor([8]), model.encoder.init_states(2))


def test_ctc_head_adds_an_encoder_loss():
    cfg = ModelConfig(num_features=16, d_model=32, hidden=64, num_layers=1, decoder_dim=32, joiner_dim=32,
                      vocab_size=6, dropout=0.0)
    torch.manual_seed(0)
    plain = Transducer(cfg)
    torch.manual_seed(0)
    with_ctc = Transducer(dataclasses.replace(cfg, ctc_weight=0.5))
    assert plain.ctc_head is None and with_ctc.ctc_head is not None
    x, lengths = torch.randn(2, 40, 16), torch.tensor([40, 32])
    y, y_lengths = torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2])
    base = plain(x, lengths, y, y_lengths, reduction="none")
    total = with_ctc(x, lengths, y, y_lengths, reduction="none")
    ctc = with_ctc._ctc_loss(*with_ctc.encoder(x, lengths)[:2], y, y_lengths, "none")
    assert torch.all(ctc > 0)
    torch.testing.assert_close(total, base + 0.5 * ctc)


def test_feature_normalization_is_applied_before_stacking():
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=8, hidden=12, num_layers=1, decoder_dim=8, joiner_dim=8, vocab_size=5, dropout=0.0)
    model = Transducer(cfg).eval()
    x = torch.randn(2, 16, cfg.num_features) * 3 - 7
    lengths = torch.tensor([16, 12])
    mean, std = x.mean((0, 1)), x.std((0, 1))
    plain, _, _ = model.encoder((x - mean) / std, lengths)
    model.encoder.set_normalization(mean, std)
    normalized, _, _ = model.encoder(x, lengths)
    torch.testing.assert_close(normalized, plain)
    assert "encoder.feature_mean" in model.state_dict()  # checkpoints carry the statistics
    with pytest.raises(ValueError, match="mean and std"):
        model.encoder.set_normalization(mean[:3], std)


def test_feature_statistics_of_training_utterances():
    from edgeasr.train.batching import Utterance
    from edgeasr.train.train import feature_statistics

    rng = np.random.default_rng(0)
    feats = [rng.normal(-5.0, 2.0, size=(40, 80)).astype(np.float32) for _ in range(6)]
    utts = [Utterance(uid=str(i), voice="v", text="a", num_frames=40, tokens=[1], load_features=lambda f=f: f)
            for i, f in enumerate(feats)]
    mean, std = feature_statistics(utts, max_utterances=3)  # every 2nd utterance
    chosen = np.concatenate(feats[::2])
    np.testing.assert_allclose(mean.numpy(), chosen.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std.numpy(), chosen.std(0, ddof=1), rtol=1e-4)
