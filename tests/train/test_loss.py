"""rnnt_loss against the definition: the log-sum-exp over every alignment, enumerated one by one."""

from __future__ import annotations

import itertools

import pytest
import torch

from edgeasr.train import loss as loss_module
from edgeasr.train.loss import rnnt_loss, rnnt_loss_from_parts

torch.set_num_threads(1)

VALUE_TOL = 1e-5  # float32 loss against the float64 enumeration
GRAD_TOL = 1e-5


def brute_force_nll(logits: torch.Tensor, targets: list[int], blank: int = 0) -> torch.Tensor:
    """-log sum over all alignments of one item, from its valid logits [T, U+1, V]; differentiable."""
    t_len, u1, _ = logits.shape
    u_len = u1 - 1
    lp = logits.log_softmax(-1)
    scores = []
    # An alignment is T - 1 + U moves (which of them emit) followed by the final blank out of (T - 1, U).
    for emits in itertools.combinations(range(t_len - 1 + u_len), u_len):
        t = u = 0
        score = lp.new_zeros(())
        for k in range(t_len - 1 + u_len):
            if k in emits:
                score = score + lp[t, u, targets[u]]
                u += 1
            else:
                score = score + lp[t, u, blank]
                t += 1
        scores.append(score + lp[t_len - 1, u_len, blank])
    return -torch.logsumexp(torch.stack(scores), 0)


def dp_nll(logits: torch.Tensor, targets: list[int], blank: int = 0) -> torch.Tensor:
    """The textbook double loop over (t, u), for shapes too big to enumerate; differentiable."""
    t_len, u1, _ = logits.shape
    lp = logits.log_softmax(-1)
    alpha = [[None] * u1 for _ in range(t_len)]
    for t in range(t_len):
        for u in range(u1):
            terms = []
            if t == 0 and u == 0:
                terms.append(lp.new_zeros(()))
            if t > 0:
                terms.append(alpha[t - 1][u] + lp[t - 1, u, blank])
            if u > 0:
                terms.append(alpha[t][u - 1] + lp[t, u - 1, targets[u - 1]])
            alpha[t][u] = torch.logsumexp(torch.stack(terms), 0)
    return -(alpha[-1][-1] + lp[-1, -1, blank])


def random_batch(gen, lengths, u_lengths, vocab, blank=0, pad_value=-1):
    n = len(lengths)
    t_max, u_max = max(lengths), max(u_lengths)
    logits = torch.randn(n, t_max, u_max + 1, vocab, generator=gen, dtype=torch.float64) * 2
    non_blank = [v for v in range(vocab) if v != blank]
    targets = torch.full((n, u_max), pad_value, dtype=torch.int64)
    for i, u in enumerate(u_lengths):
        pick = torch.randint(len(non_blank), (u,), generator=gen)
        targets[i, :u] = torch.tensor([non_blank[j] for j in pick.tolist()], dtype=torch.int64)
    return logits, targets, torch.tensor(lengths), torch.tensor(u_lengths)


def reference(logits64, targets, lengths, u_lengths, blank=0, weights=None, per_item=brute_force_nll):
    """Per-item losses and the gradient of sum(weights * losses) w.r.t. the float64 logits."""
    logits64 = logits64.detach().clone().requires_grad_(True)
    losses = torch.stack([
        per_item(logits64[i, :t, : u + 1], targets[i, :u].tolist(), blank)
        for i, (t, u) in enumerate(zip(lengths.tolist(), u_lengths.tolist()))
    ])
    w = torch.ones_like(losses) if weights is None else weights.double()
    (losses * w).sum().backward()
    return losses.detach(), logits64.grad


def ours(logits64, targets, lengths, u_lengths, blank=0, weights=None, dtype=torch.float32):
    logits = logits64.detach().to(dtype).requires_grad_(True)
    losses = rnnt_loss(logits, targets, lengths, u_lengths, blank=blank, reduction="none")
    w = torch.ones_like(losses) if weights is None else weights.to(dtype)
    (losses * w).sum().backward()
    return losses.detach().double(), logits.grad.double()


@pytest.mark.parametrize("t_len", [1, 2, 3, 4])
@pytest.mark.parametrize("u_len", [0, 1, 2, 3])
@pytest.mark.parametrize("vocab", [2, 3, 4])
def test_single_item_matches_enumeration(t_len, u_len, vocab):
    gen = torch.Generator().manual_seed(100 * t_len + 10 * u_len + vocab)
    batch = random_batch(gen, [t_len], [u_len], vocab)
    want_loss, want_grad = reference(*batch)
    got_loss, got_grad = ours(*batch)
    torch.testing.assert_close(got_loss, want_loss, atol=VALUE_TOL, rtol=0)
    torch.testing.assert_close(got_grad, want_grad, atol=GRAD_TOL, rtol=0)


@pytest.fixture(params=["one slice", "7-row slices"])
def row_slices(request, monkeypatch):
    """Run once as is (tiny cases fit in one slice of rows) and once with the logits cut into many ragged slices."""
    if request.param != "one slice":
        monkeypatch.setattr(loss_module, "_slice_rows", lambda vocab: 7)


@pytest.mark.parametrize("blank", [0, 3])
def test_ragged_batch_matches_enumeration(blank, row_slices):
    """Different T and U per item (U = 0 and T = 1 among them), weighted per-item gradients."""
    gen = torch.Generator().manual_seed(7 + blank)
    lengths = [4, 2, 3, 1, 4, 3]
    u_lengths = [3, 0, 1, 2, 0, 3]
    batch = random_batch(gen, lengths, u_lengths, vocab=4, blank=blank)
    weights = torch.rand(len(lengths), generator=gen, dtype=torch.float64) + 0.5
    want_loss, want_grad = reference(*batch, blank=blank, weights=weights)
    got_loss, got_grad = ours(*batch, blank=blank, weights=weights)
    torch.testing.assert_close(got_loss, want_loss, atol=VALUE_TOL, rtol=0)
    torch.testing.assert_close(got_grad, want_grad, atol=GRAD_TOL, rtol=0)
    # Nothing beyond an item's lengths gets a gradient, not even a tiny one.
    for i, (t, u) in enumerate(zip(lengths, u_lengths)):
        assert torch.all(got_grad[i, t:] == 0)
        assert torch.all(got_grad[i, :, u + 1:] == 0)


def test_all_targets_empty():
    gen = torch.Generator().manual_seed(3)
    batch = random_batch(gen, [4, 2, 3], [0, 0, 0], vocab=3)
    assert batch[1].shape == (3, 0)
    want_loss, want_grad = reference(*batch)
    got_loss, got_grad = ours(*batch)
    torch.testing.assert_close(got_loss, want_loss, atol=VALUE_TOL, rtol=0)
    torch.testing.assert_close(got_grad, want_grad, atol=GRAD_TOL, rtol=0)


def test_longer_lattices_match_double_loop(row_slices):
    """Long diagonals and U > T, against the textbook recursion in float64."""
    gen = torch.Generator().manual_seed(11)
    batch = random_batch(gen, [17, 9, 5], [7, 12, 0], vocab=11)
    want_loss, want_grad = reference(*batch, per_item=dp_nll)
    got_loss, got_grad = ours(*batch, dtype=torch.float64)
    torch.testing.assert_close(got_loss, want_loss, atol=1e-10, rtol=0)
    torch.testing.assert_close(got_grad, want_grad, atol=1e-10, rtol=0)
    got_loss32, got_grad32 = ours(*batch)
    torch.testing.assert_close(got_loss32, want_loss, atol=5e-5, rtol=0)
    torch.testing.assert_close(got_grad32, want_grad, atol=GRAD_TOL, rtol=0)


def test_reductions():
    gen = torch.Generator().manual_seed(5)
    logits, targets, lengths, u_lengths = random_batch(gen, [4, 3, 2], [2, 1, 0], vocab=4)
    logits = logits.float()
    per_item = rnnt_loss(logits, targets, lengths, u_lengths, reduction="none")
    assert per_item.shape == (3,)
    torch.testing.assert_close(rnnt_loss(logits, targets, lengths, u_lengths, reduction="sum"), per_item.sum())
    torch.testing.assert_close(rnnt_loss(logits, targets, lengths, u_lengths), per_item.mean())


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(9)
    logits, targets, lengths, u_lengths = random_batch(gen, [3, 2], [2, 1], vocab=3)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: rnnt_loss(x, targets, lengths, u_lengths, reduction="none"), (logits,), eps=1e-6, atol=1e-7
    )


def test_int32_inputs_and_bfloat16_logits():
    gen = torch.Generator().manual_seed(2)
    logits, targets, lengths, u_lengths = random_batch(gen, [4, 3], [2, 3], vocab=5)
    want = rnnt_loss(logits.float(), targets, lengths, u_lengths, reduction="none")
    got = rnnt_loss(logits.float(), targets.int(), lengths.int(), u_lengths.int(), reduction="none")
    torch.testing.assert_close(got, want)
    x = logits.bfloat16().requires_grad_(True)
    low = rnnt_loss(x, targets, lengths, u_lengths, reduction="none")
    low.sum().backward()
    assert low.dtype == torch.bfloat16 and x.grad.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), want, atol=0.1, rtol=0.02)


def test_from_parts_matches_full_logits():
    gen = torch.Generator().manual_seed(4)
    n, t_max, u_max, e_dim, d_dim, vocab = 3, 11, 4, 6, 5, 7
    class Joiner(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Linear(e_dim, 8)
            self.dec = torch.nn.Linear(d_dim, 8)
            self.out = torch.nn.Linear(8, vocab)

        def forward(self, enc, dec):
            return self.out(torch.tanh(self.enc(enc) + self.dec(dec)))

    torch.manual_seed(0)
    joiner = Joiner()
    enc = torch.randn(n, t_max, e_dim, generator=gen, requires_grad=True)
    dec = torch.randn(n, u_max + 1, d_dim, generator=gen, requires_grad=True)
    targets = torch.randint(1, vocab, (n, u_max), generator=gen)
    lengths, u_lengths = torch.tensor([11, 7, 1]), torch.tensor([4, 0, 2])

    full = rnnt_loss(joiner(enc[:, :, None], dec[:, None]), targets, lengths, u_lengths, reduction="sum")
    want = torch.autograd.grad(full, [enc, dec, *joiner.parameters()])
    parts = rnnt_loss_from_parts(joiner, enc, dec, targets, lengths, u_lengths, reduction="sum", chunk_frames=4)
    got = torch.autograd.grad(parts, [enc, dec, *joiner.parameters()])
    torch.testing.assert_close(parts, full, atol=1e-5, rtol=1e-6)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)


def test_retain_graph_backward_twice():
    gen = torch.Generator().manual_seed(1)
    logits, targets, lengths, u_lengths = random_batch(gen, [3], [1], vocab=3)
    logits.requires_grad_(True)
    loss = rnnt_loss(logits, targets, lengths, u_lengths)
    loss.backward(retain_graph=True)
    first = logits.grad.clone()
    loss.backward()
    torch.testing.assert_close(logits.grad, 2 * first)


@pytest.mark.parametrize("change, match", [
    (dict(reduction="avg"), "reduction"),
    (dict(blank=9), "blank"),
    (dict(logits=torch.zeros(2, 3, 3)), "logits"),
    (dict(targets=torch.ones(2, 2)), "targets"),
    (dict(targets=torch.ones(2, 3, dtype=torch.int64)), "targets"),
    (dict(targets=torch.tensor([[1, 0], [1, 1]])), "blank"),
    (dict(targets=torch.tensor([[1, 4], [1, 1]])), "targets"),
    (dict(logit_lengths=torch.tensor([3, 0])), "logit_lengths"),
    (dict(logit_lengths=torch.tensor([4, 2])), "logit_lengths"),
    (dict(target_lengths=torch.tensor([3, 1])), "target_lengths"),
    (dict(target_lengths=torch.tensor([2.0, 1.0])), "target_lengths"),
])
def test_bad_inputs_raise_value_error(change, match):
    args = dict(logits=torch.zeros(2, 3, 3, 4), targets=torch.tensor([[1, 2], [3, 0]]),
                logit_lengths=torch.tensor([3, 2]), target_lengths=torch.tensor([2, 1]), blank=0, reduction="mean")
    args.update(change)
    with pytest.raises(ValueError, match=match):
        rnnt_loss(**args)
