"""Teacher-student distillation for transducers: KL divergence between the output distributions on the lattice.

At every node (t, u) of an utterance's lattice (t < T_n frames, u <= U_n tokens emitted) the joiner gives a
distribution over the vocabulary. ``full_kl`` sums KL(teacher || student) over the whole vocabulary at every node.
``collapsed_kl`` (Panchapagesan et al., "Efficient knowledge distillation for RNN-Transducer models", ICASSP 2021)
sums it over three classes only: blank, the next reference token y_{u+1}, and everything else -- the parts of the
distribution that the transducer loss and the search actually use. At u = U_n there is no next token, so the
classes are blank and everything else. Both take full [N, T, U+1, V] logits here; the collapsed form's memory saving
(keeping three log-probs per node, chunk by chunk as ``loss.rnnt_loss_from_parts`` does) is not implemented yet.

Both return the sum over an utterance's nodes, reduced over the batch like ``loss.rnnt_loss`` ("mean" over
utterances, "sum", or "none"). The teacher's logits carry no gradient. For audio nobody transcribed, the reference
tokens are the teacher's own greedy hypothesis (``teacher_hypotheses``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from edgeasr.train.evaluate import greedy_decode
from edgeasr.train.model import BLANK, Transducer

__all__ = ["collapsed_kl", "full_kl", "teacher_hypotheses", "DISTILL_FORMS"]

DISTILL_FORMS = ("collapsed", "full")
_REDUCTIONS = ("mean", "sum", "none")


def _check(student: Tensor, teacher: Tensor, targets: Tensor, logit_lengths: Tensor, target_lengths: Tensor,
           reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected one of {_REDUCTIONS}, got {reduction!r}")
    if student.ndim != 4 or not student.is_floating_point():
        raise ValueError(f"student_logits: expected a floating [N, T, U+1, V] tensor, got {tuple(student.shape)}")
    if teacher.shape != student.shape:
        raise ValueError(f"teacher_logits: shape {tuple(teacher.shape)} differs from the student's "
                         f"{tuple(student.shape)}")
    n, t_max, u1, _ = student.shape
    if targets.ndim != 2 or targets.shape[0] != n or targets.shape[1] != u1 - 1:
        raise ValueError(f"targets: expected [{n}, {u1 - 1}], got {tuple(targets.shape)}")
    for name, lengths, top in (("logit_lengths", logit_lengths, t_max), ("target_lengths", target_lengths, u1 - 1)):
        if lengths.shape != (n,) or lengths.is_floating_point():
            raise ValueError(f"{name}: expected an integer tensor of shape [{n}], got {tuple(lengths.shape)}")
        if n and (int(lengths.min()) < 0 or int(lengths.max()) > top):
            raise ValueError(f"{name}: values must lie in [0, {top}], got {lengths.tolist()}")


def _node_mask(n: int, t_max: int, u1: int, logit_lengths: Tensor, target_lengths: Tensor) -> Tensor:
    """[N, T, U+1]: the nodes inside each item's lattice."""
    t = torch.arange(t_max, device=logit_lengths.device).view(1, -1, 1)
    u = torch.arange(u1, device=logit_lengths.device).view(1, 1, -1)
    return (t < logit_lengths.view(-1, 1, 1)) & (u <= target_lengths.view(-1, 1, 1))


def _reduce(per_node: Tensor, mask: Tensor, reduction: str) -> Tensor:
    per_utt = per_node.masked_fill(~mask, 0.0).sum(dim=(1, 2))
    return {"mean": per_utt.mean, "sum": per_utt.sum, "none": lambda: per_utt}[reduction]()


def _kl_terms(p_log: Tensor, q_log: Tensor) -> Tensor:
    """p (log p - log q) elementwise, 0 where p is 0 (also where q is 0 then: no NaN, no gradient)."""
    present = p_log > float("-inf")
    safe_p = torch.where(present, p_log, torch.zeros_like(p_log))
    safe_q = torch.where(present, q_log, torch.zeros_like(q_log))
    return torch.where(present, safe_p.exp() * (safe_p - safe_q), torch.zeros_like(p_log))


def full_kl(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, logit_lengths: Tensor,
            target_lengths: Tensor, reduction: str = "mean") -> Tensor:
    """KL(teacher || student) over the whole vocabulary, summed over each utterance's lattice nodes.

    Logits [N, T, U+1, V]; ``targets`` [N, U] only fix the lattice's shape here (the collapsed form uses them)."""
    _check(student_logits, teacher_logits, targets, logit_lengths, target_lengths, reduction)
    n, t_max, u1, _ = student_logits.shape
    s = student_logits.log_softmax(-1)
    t = teacher_logits.detach().to(s.dtype).log_softmax(-1)
    per_node = _kl_terms(t, s).sum(-1)
    return _reduce(per_node, _node_mask(n, t_max, u1, logit_lengths, target_lengths), reduction)


def _collapse(logits: Tensor, next_tokens: Tensor, blank: int) -> Tensor:
    """[N, T, U+1, V] logits -> [N, T, U+1, 3] log-probs of (blank, next token, the rest); the next-token class is
    -inf where there is none (next token == blank)."""
    lp = logits.log_softmax(-1)
    idx = next_tokens.unsqueeze(-1)
    lp_blank = lp[..., blank]
    lp_next = lp.gather(-1, idx).squeeze(-1)
    others = torch.ones_like(lp, dtype=torch.bool)
    others[..., blank] = False
    others.scatter_(-1, idx, False)
    lp_rest = lp.masked_fill(~others, float("-inf")).logsumexp(-1)
    has_next = next_tokens != blank
    lp_next = torch.where(has_next, lp_next, torch.full_like(lp_next, float("-inf")))
    return torch.stack([lp_blank, lp_next, lp_rest], -1)


def collapsed_kl(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, logit_lengths: Tensor,
                 target_lengths: Tensor, blank: int = BLANK, reduction: str = "mean") -> Tensor:
    """KL(teacher || student) over (blank, y_{u+1}, rest) at every node, summed over each utterance's nodes.

    Logits [N, T, U+1, V]; ``targets`` [N, U] the reference (or teacher) tokens, padding beyond target_lengths."""
    _check(student_logits, teacher_logits, targets, logit_lengths, target_lengths, reduction)
    n, t_max, u1, _ = student_logits.shape
    pad = torch.arange(u1 - 1, device=targets.device).view(1, -1) >= target_lengths.view(-1, 1)
    safe = targets.long().masked_fill(pad, blank)
    next_tokens = torch.cat([safe, safe.new_full((n, 1), blank)], 1).unsqueeze(1).expand(n, t_max, u1)
    s = _collapse(student_logits, next_tokens, blank)
    t = _collapse(teacher_logits.detach().to(s.dtype), next_tokens, blank)
    per_node = _kl_terms(t, s).sum(-1)
    return _reduce(per_node, _node_mask(n, t_max, u1, logit_lengths, target_lengths), reduction)


def teacher_hypotheses(teacher: Transducer, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """The teacher's greedy hypotheses as reference tokens for untranscribed audio: (targets [N, U_max] padded
    with blanks, target_lengths [N]); U_max is at least 1 so that the tensors are never empty."""
    hyps = greedy_decode(teacher, features, lengths)
    u_max = max([1] + [len(h) for h in hyps])
    targets = torch.full((len(hyps), u_max), BLANK, dtype=torch.int64)
    for i, h in enumerate(hyps):
        targets[i, : len(h)] = torch.tensor(h, dtype=torch.int64)
    return targets.to(features.device), torch.tensor([len(h) for h in hyps], dtype=torch.int64,
                                                     device=features.device)
