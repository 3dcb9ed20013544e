"""The RNN-T loss: negative log-likelihood of the targets, summed over every alignment.

The lattice of one utterance has a node (t, u) for frame t < T and u <= U emitted tokens. From (t, u) a blank moves
to (t + 1, u) with log-prob ``blank[t, u]`` and token u moves to (t, u + 1) with log-prob ``emit[t, u]``; a path
starts at (0, 0) and ends with the blank out of (T - 1, U). Only those two log-probs per node enter the sum, so after
one log-softmax the dynamic programme works on two [N, T, U+1] arrays, never on the vocabulary.

The forward variable alpha(t, u) depends on (t - 1, u) and (t, u - 1) only, both on the anti-diagonal t + u - 1, so
each anti-diagonal is one batch of tensor ops: T + U steps, each vectorised over the batch and the diagonal. The
arrays are re-indexed once by (d = t + u, u) ("skewed") so that a diagonal is a contiguous [N, U+1] slice.

The gradient comes from alpha and the backward variable beta: the probability that an alignment takes the blank
(or the token) out of (t, u) is exp(alpha + blank + beta(t+1, u) - logP) (or exp(alpha + emit + beta(t, u+1) - logP)),
and d(-logP)/d(log-prob) is minus that. Through the log-softmax, the gradient for the logits of node (t, u) is
softmax * occupancy(t, u) - (those two probabilities at the blank and the target entry). Forward keeps only the
log-normaliser of each node; backward fills the one new [N, T, U+1, V] tensor it returns, slice by slice.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

__all__ = ["rnnt_loss", "rnnt_loss_from_parts"]

_REDUCTIONS = ("mean", "sum", "none")
_NEG_INF = float("-inf")


def rnnt_loss(
    logits: Tensor,
    targets: Tensor,
    logit_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = 0,
    reduction: str = "mean",
) -> Tensor:
    """RNN-T loss of a padded batch.

    Args:
        logits: [N, T, U+1, V] joiner outputs, before any softmax (float16/bfloat16 run the recursion in float32).
        targets: [N, U] token ids (int32 or int64); entries at and beyond ``target_lengths`` are ignored (any value).
        logit_lengths: [N] valid frames per item, 1 <= T_n <= T.
        target_lengths: [N] valid tokens per item, 0 <= U_n <= U.
        blank: the blank id; it may not appear among the valid targets.
        reduction: "mean" (over the batch), "sum", or "none" ([N] per-item losses).

    Frames and tokens beyond an item's lengths get exactly zero gradient.
    """
    _check_reduction(reduction)
    _check_logits(logits, "logits", blank)
    targets = _check_targets(targets, logits.shape[0], logits.shape[2] - 1, logits.device)
    logit_lengths, target_lengths = _check_lengths(
        logit_lengths, target_lengths, logits.shape[0], logits.shape[1], targets.shape[1], logits.device
    )
    _check_target_values(targets, target_lengths, logits.shape[-1], blank)
    nll = _FusedRNNTLoss.apply(logits, targets, logit_lengths, target_lengths, blank)
    return _reduce(nll, reduction)


def rnnt_loss_from_parts(
    joiner: Callable[[Tensor, Tensor], Tensor],
    enc: Tensor,
    dec: Tensor,
    targets: Tensor,
    logit_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = 0,
    reduction: str = "mean",
    chunk_frames: int = 16,
) -> Tensor:
    """The same loss as ``rnnt_loss(joiner(enc[:, :, None], dec[:, None]), ...)`` without the full logits.

    The joiner runs on ``chunk_frames`` frames at a time, and only the blank and target log-probs of each chunk are
    kept; backward recomputes one chunk at a time (activation checkpointing). Peak memory is a few
    [N, chunk_frames, U+1, V] tensors instead of [N, T, U+1, V], for about one extra joiner forward.

    Args:
        joiner: maps enc [N, Tc, 1, E] and dec [N, 1, U+1, D] to logits [N, Tc, U+1, V] (``model.Joiner`` does).
        enc: [N, T, E] encoder output.
        dec: [N, U+1, D] decoder output; row u follows the first u targets.
        chunk_frames: frames per joiner call, >= 1.
        The rest as in ``rnnt_loss``.
    """
    _check_reduction(reduction)
    if not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be a positive int, got {chunk_frames!r}")
    if enc.ndim != 3 or not enc.is_floating_point():
        raise ValueError(f"enc must be a floating [N, T, E] tensor, got {enc.dtype} {tuple(enc.shape)}")
    if dec.ndim != 3 or dec.shape[0] != enc.shape[0]:
        raise ValueError(f"dec must be [N, U+1, D] with N={enc.shape[0]}, got {tuple(dec.shape)}")
    n, t_max = enc.shape[:2]
    targets = _check_targets(targets, n, dec.shape[1] - 1, enc.device)
    logit_lengths, target_lengths = _check_lengths(
        logit_lengths, target_lengths, n, t_max, targets.shape[1], enc.device
    )
    safe_targets = _pad_targets(targets, target_lengths, blank)
    checked = False

    def blank_and_emit(enc_chunk: Tensor, dec_all: Tensor) -> tuple[Tensor, Tensor]:
        nonlocal checked
        logits = joiner(enc_chunk.unsqueeze(2), dec_all.unsqueeze(1))
        if not checked:  # the vocabulary size is known from the first chunk's logits
            _check_logits(logits, "joiner output", blank)
            _check_target_values(targets, target_lengths, logits.shape[-1], blank)
            checked = True
        return _gather_blank_emit(logits.log_softmax(-1), safe_targets, blank)

    blank_parts, emit_parts = [], []
    for start in range(0, t_max, chunk_frames):
        b, e = checkpoint(blank_and_emit, enc[:, start:start + chunk_frames], dec, use_reentrant=False)
        blank_parts.append(b)
        emit_parts.append(e)
    blank_lp = torch.cat(blank_parts, 1)
    emit_lp = torch.cat(emit_parts, 1)
    nll = _LatticeLoss.apply(blank_lp, emit_lp, logit_lengths, target_lengths)
    return _reduce(nll, reduction)


# ---------------------------------------------------------------------------------------------------------------
# autograd functions


class _FusedRNNTLoss(torch.autograd.Function):
    """Per-item -log P(targets) from logits, with the log-softmax folded into its backward.

    Forward keeps only the log-normaliser of each node ([N, T, U+1]); backward builds the gradient in the one new
    [N, T, U+1, V] tensor it must return. Both walk the logits in cache-sized slices of rows: a full-size
    temporary would cost more in page faults than the arithmetic on it.
    """

    @staticmethod
    def forward(ctx, logits, targets, logit_lengths, target_lengths, blank):
        n, t_max, u1, vocab = logits.shape
        rows = logits.detach().reshape(-1, vocab)
        acc = torch.promote_types(logits.dtype, torch.float32)
        lse = rows.new_empty(rows.shape[0], dtype=acc)
        step = _slice_rows(vocab)
        for start in range(0, rows.shape[0], step):
            torch.logsumexp(rows[start:start + step].to(acc), 1, out=lse[start:start + step])
        node_targets = _node_targets(_pad_targets(targets, target_lengths, blank), t_max, blank).reshape(-1)
        blank_lp = (rows[:, blank] - lse).view(n, t_max, u1)
        emit_lp = (rows.gather(1, node_targets[:, None]).squeeze(1) - lse).view(n, t_max, u1)
        ctx.lattice = _Lattice(blank_lp, emit_lp, logit_lengths, target_lengths)
        ctx.blank = blank
        ctx.save_for_backward(logits, lse, node_targets)
        return -ctx.lattice.log_likelihood.to(logits.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_nll):
        logits, lse, node_targets = ctx.saved_tensors
        vocab = logits.shape[-1]
        rows = logits.reshape(-1, vocab)
        occ_blank, occ_emit = (x.reshape(-1) for x in ctx.lattice.occupancies(grad_nll))
        occ = occ_blank + occ_emit
        grad = torch.empty_like(rows)
        step = _slice_rows(vocab)
        for start in range(0, rows.shape[0], step):
            sl = slice(start, start + step)
            g = grad[sl]
            torch.sub(rows[sl], lse[sl, None], out=g)  # softmax * occupancy, then minus the two used entries
            g.exp_().mul_(occ[sl, None])
            g[:, ctx.blank].sub_(occ_blank[sl])
            g.scatter_add_(1, node_targets[sl, None], -occ_emit[sl, None].to(g.dtype))
        return grad.view(logits.shape), None, None, None, None


class _LatticeLoss(torch.autograd.Function):
    """Per-item -log P(targets) from the blank and target log-probs ([N, T, U+1] each)."""

    @staticmethod
    def forward(ctx, blank_lp, emit_lp, logit_lengths, target_lengths):
        lattice = _Lattice(blank_lp.detach(), emit_lp.detach(), logit_lengths, target_lengths)
        ctx.lattice = lattice
        ctx.dtypes = (blank_lp.dtype, emit_lp.dtype)
        return -lattice.log_likelihood.to(blank_lp.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_nll):
        occ_blank, occ_emit = ctx.lattice.occupancies(grad_nll)
        return -occ_blank.to(ctx.dtypes[0]), -occ_emit.to(ctx.dtypes[1]), None, None


# ---------------------------------------------------------------------------------------------------------------
# the lattice recursions


class _Lattice:
    """alpha over the anti-diagonals of a batch of lattices; beta and the occupancies on demand."""

    def __init__(self, blank_lp: Tensor, emit_lp: Tensor, logit_lengths: Tensor, target_lengths: Tensor):
        dtype = torch.promote_types(blank_lp.dtype, torch.float32)  # no recursion in half precision
        n, t_max, u1 = blank_lp.shape
        dev = blank_lp.device
        t = torch.arange(t_max, device=dev).view(1, -1, 1)
        u = torch.arange(u1, device=dev).view(1, 1, -1)
        t_n = logit_lengths.view(-1, 1, 1)
        u_n = target_lengths.view(-1, 1, 1)
        # Transitions that stay inside each item's lattice; the blank out of (T_n - 1, U_n) is the final one.
        blank_ok = ((t < t_n - 1) & (u <= u_n)) | ((t == t_n - 1) & (u == u_n))
        emit_ok = (t < t_n) & (u < u_n)
        self.blank_s = _skew(blank_lp.to(dtype).masked_fill(~blank_ok, _NEG_INF))
        self.emit_s = _skew(emit_lp.to(dtype).masked_fill(~emit_ok, _NEG_INF))
        self.logit_lengths = logit_lengths
        self.target_lengths = target_lengths
        self.shape = (n, t_max, u1)

        diags = t_max + u1 - 1
        alpha = self.blank_s.new_full((diags, n, u1), _NEG_INF)
        alpha[0, :, 0] = 0.0
        for d in range(1, diags):
            prev, cur = alpha[d - 1], alpha[d]
            torch.add(prev, self.blank_s[d - 1], out=cur)  # blank from (t - 1, u), same u
            if u1 > 1:  # token u - 1 from (t, u - 1)
                torch.logaddexp(cur[:, 1:], prev[:, :-1] + self.emit_s[d - 1, :, :-1], out=cur[:, 1:])
        self.alpha = alpha
        rows = torch.arange(n, device=dev)
        last = logit_lengths - 1 + target_lengths
        self.log_likelihood = alpha[last, rows, target_lengths] + self.blank_s[last, rows, target_lengths]

    def occupancies(self, scale: Tensor) -> tuple[Tensor, Tensor]:
        """P(alignment takes the blank / the token out of (t, u)) * scale[n], as [N, T, U+1] each."""
        n, t_max, u1 = self.shape
        diags = t_max + u1 - 1
        dev = self.alpha.device
        # beta(t, u) = log P(rest of the path | at (t, u)); one diagonal more than alpha for the virtual node
        # (T_n, U_n) after the final blank, where beta is 0.
        beta = self.alpha.new_full((diags + 1, n, u1), _NEG_INF)
        beta[self.logit_lengths + self.target_lengths, torch.arange(n, device=dev), self.target_lengths] = 0.0
        step = self.alpha.new_empty((n, u1))
        for d in range(diags - 1, -1, -1):
            nxt = beta[d + 1]
            torch.add(nxt, self.blank_s[d], out=step)  # blank to (t + 1, u), same u
            if u1 > 1:  # token to (t, u + 1)
                torch.logaddexp(step[:, :-1], nxt[:, 1:] + self.emit_s[d, :, :-1], out=step[:, :-1])
            # The recursion gives -inf at a virtual node (nothing leaves it), so max keeps the 0 put there.
            torch.maximum(beta[d], step, out=beta[d])
        ll = self.log_likelihood.view(1, -1, 1)
        log_occ_blank = self.alpha + self.blank_s + beta[1:] - ll
        beta_next_u = torch.cat([beta[1:, :, 1:], beta.new_full((diags, n, 1), _NEG_INF)], 2)
        log_occ_emit = self.alpha + self.emit_s + beta_next_u - ll
        scale = scale.to(self.alpha.dtype).view(-1, 1, 1)
        return _unskew(log_occ_blank.exp_(), t_max) * scale, _unskew(log_occ_emit.exp_(), t_max) * scale


def _skew(x: Tensor) -> Tensor:
    """[N, T, U+1] -> [T+U, N, U+1] with out[t + u, n, u] = x[n, t, u]; -inf off the lattice."""
    n, t_max, u1 = x.shape
    d = torch.arange(t_max + u1 - 1, device=x.device).view(-1, 1)
    u = torch.arange(u1, device=x.device).view(1, -1)
    t = d - u
    off = (t < 0) | (t >= t_max)
    out = x[:, t.clamp(0, t_max - 1), u.expand_as(t)]  # [N, T+U, U+1]
    return out.masked_fill_(off, _NEG_INF).permute(1, 0, 2).contiguous()


def _unskew(xs: Tensor, t_max: int) -> Tensor:
    """Inverse of ``_skew``: [T+U, N, U+1] -> [N, T, U+1]."""
    u1 = xs.shape[2]
    t = torch.arange(t_max, device=xs.device).view(-1, 1)
    u = torch.arange(u1, device=xs.device).view(1, -1)
    return xs[t + u, :, u.expand_as(t + u)].permute(2, 0, 1)


def _gather_blank_emit(lp: Tensor, safe_targets: Tensor, blank: int) -> tuple[Tensor, Tensor]:
    """blank[n, t, u] = lp[n, t, u, blank] and emit[n, t, u] = lp[n, t, u, y_u] ([N, T, U+1] each)."""
    idx = _node_targets(safe_targets, lp.shape[1], blank).unsqueeze(-1)
    return lp[..., blank], lp.gather(-1, idx).squeeze(-1)


def _node_targets(safe_targets: Tensor, t_max: int, blank: int) -> Tensor:
    """[N, U] -> [N, T, U+1]: the token each node would emit; blank at u = U, where nothing is emitted."""
    n = safe_targets.shape[0]
    padded = torch.cat([safe_targets, safe_targets.new_full((n, 1), blank)], 1)
    return padded.unsqueeze(1).expand(n, t_max, -1)


def _slice_rows(vocab: int) -> int:
    """Rows of logits per slice: about 1 MiB of float32, which stays in L2."""
    return max(1, (1 << 18) // vocab)


def _pad_targets(targets: Tensor, target_lengths: Tensor, blank: int) -> Tensor:
    """Targets with the padding replaced by ``blank``, so that every entry is a valid index."""
    pad = torch.arange(targets.shape[1], device=targets.device).view(1, -1) >= target_lengths.view(-1, 1)
    return targets.masked_fill(pad, blank)


def _reduce(nll: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return nll.mean()
    if reduction == "sum":
        return nll.sum()
    return nll


# ---------------------------------------------------------------------------------------------------------------
# input checks


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_logits(logits: Tensor, name: str, blank: int) -> None:
    if not isinstance(logits, Tensor) or logits.ndim != 4 or not logits.is_floating_point():
        raise ValueError(f"{name} must be a floating [N, T, U+1, V] tensor, got "
                         f"{getattr(logits, 'dtype', type(logits))} {tuple(getattr(logits, 'shape', ()))}")
    if logits.shape[1] < 1 or logits.shape[2] < 1:
        raise ValueError(f"{name} must have T >= 1 and U+1 >= 1, got shape {tuple(logits.shape)}")
    if not 0 <= blank < logits.shape[-1]:
        raise ValueError(f"blank must be in [0, {logits.shape[-1]}), got {blank}")


def _check_targets(targets: Tensor, n: int, u_max: int, device: torch.device) -> Tensor:
    if not isinstance(targets, Tensor) or targets.ndim != 2 or targets.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"targets must be an int32/int64 [N, U] tensor, got "
                         f"{getattr(targets, 'dtype', type(targets))} {tuple(getattr(targets, 'shape', ()))}")
    if targets.shape != (n, u_max):
        raise ValueError(f"targets must be [N, U] = [{n}, {u_max}] (U+1 from the logits), got {tuple(targets.shape)}")
    if targets.device != device:
        raise ValueError(f"targets are on {targets.device}, the logits on {device}")
    return targets.long()


def _check_lengths(logit_lengths: Tensor, target_lengths: Tensor, n: int, t_max: int, u_max: int,
                   device: torch.device) -> tuple[Tensor, Tensor]:
    out = []
    for name, lengths, lo, hi in (("logit_lengths", logit_lengths, 1, t_max),
                                  ("target_lengths", target_lengths, 0, u_max)):
        if not isinstance(lengths, Tensor) or lengths.shape != (n,) or lengths.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"{name} must be an int32/int64 tensor of shape [{n}], got "
                             f"{getattr(lengths, 'dtype', type(lengths))} {tuple(getattr(lengths, 'shape', ()))}")
        if lengths.device != device:
            raise ValueError(f"{name} is on {lengths.device}, the logits on {device}")
        if n and (int(lengths.min()) < lo or int(lengths.max()) > hi):
            raise ValueError(f"{name} must lie in [{lo}, {hi}], got {lengths.tolist()}")
        out.append(lengths.long())
    return out[0], out[1]


def _check_target_values(targets: Tensor, target_lengths: Tensor, vocab: int, blank: int) -> None:
    valid = torch.arange(targets.shape[1], device=targets.device).view(1, -1) < target_lengths.view(-1, 1)
    bad = valid & ((targets < 0) | (targets >= vocab) | (targets == blank))
    if bool(bad.any()):
        raise ValueError(f"targets within target_lengths must be in [0, {vocab}) and not the blank ({blank}); "
                         f"bad entries at {bad.nonzero().tolist()[:8]}")
