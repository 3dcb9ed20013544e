"""Distillation losses against a brute-force computation, node by node, in float64."""

import math

import pytest
import torch

from edgeasr.train.distill import collapsed_kl, full_kl, teacher_hypotheses
from edgeasr.train.model import ModelConfig, Transducer


def random_case(seed=0, n=3, t_max=4, u_max=3, vocab=5):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(n, t_max, u_max + 1, vocab, generator=g, dtype=torch.float64) * 2
    teacher = torch.randn(n, t_max, u_max + 1, vocab, generator=g, dtype=torch.float64) * 2
    targets = torch.randint(1, vocab, (n, u_max), generator=g)
    logit_lengths = torch.tensor([t_max, 2, 3][:n])
    target_lengths = torch.tensor([u_max, 1, 0][:n])
    targets[1, 1:] = -1  # padding may hold anything
    return student, teacher, targets, logit_lengths, target_lengths


def brute_force(student, teacher, targets, logit_lengths, target_lengths, collapsed):
    out = []
    for i in range(student.shape[0]):
        total = 0.0
        for t in range(int(logit_lengths[i])):
            for u in range(int(target_lengths[i]) + 1):
                p = teacher[i, t, u].softmax(-1).tolist()
                q = student[i, t, u].softmax(-1).tolist()
                if collapsed:
                    groups = [[0]]
                    if u < int(target_lengths[i]):
                        groups.append([int(targets[i, u])])
                    used = {k for g in groups for k in g}
                    groups.append([k for k in range(len(p)) if k not in used])
                    p = [sum(p[k] for k in g) for g in groups]
                    q = [sum(q[k] for k in g) for g in groups]
                total += sum(a * math.log(a / b) for a, b in zip(p, q))
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("collapsed", [True, False])
def test_values_match_brute_force(collapsed):
    student, teacher, targets, tl, ul = random_case()
    loss = collapsed_kl if collapsed else full_kl
    per_utt = loss(student, teacher, targets, tl, ul, reduction="none")
    expected = brute_force(student, teacher, targets, tl, ul, collapsed)
    torch.testing.assert_close(per_utt, expected, rtol=1e-10, atol=1e-12)
    assert torch.all(per_utt > 0)
    torch.testing.assert_close(loss(student, teacher, targets, tl, ul), expected.mean())
    torch.testing.assert_close(loss(student, teacher, targets, tl, ul, reduction="sum"), expected.sum())


def test_collapsed_is_at_most_the_full_divergence():
    student, teacher, targets, tl, ul = random_case(seed=4)
    assert torch.all(collapsed_kl(student, teacher, targets, tl, ul, reduction="none")
                     <= full_kl(student, teacher, targets, tl, ul, reduction="none") + 1e-12)


@pytest.mark.parametrize("collapsed", [True, False])
def test_gradients_by_gradcheck(collapsed):
    student, teacher, targets, tl, ul = random_case(seed=1, n=2, t_max=3, u_max=2, vocab=4)
    loss = collapsed_kl if collapsed else full_kl
    student.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: loss(s, teacher, targets, tl, ul, reduction="none"), (student,))
    # Nodes outside an utterance's lattice get no gradient; the teacher none at all.
    teacher.requires_grad_(True)
    loss(student, teacher, targets, tl, ul).backward()
    assert teacher.grad is None
    assert torch.all(student.grad[1, int(tl[1]):] == 0) and torch.all(student.grad[1, :, int(ul[1]) + 1:] == 0)


@pytest.mark.parametrize("collapsed", [True, False])
def test_zero_when_the_student_is_the_teacher(collapsed):
    student, _, targets, tl, ul = random_case(seed=2)
    loss = collapsed_kl if collapsed else full_kl
    assert float(loss(student, student.clone(), targets, tl, ul, reduction="sum")) == pytest.approx(0.0, abs=1e-12)
    # Also when a class is empty: vocab 2 leaves nothing in "rest" where the next token is the other symbol.
    two = torch.randn(1, 2, 2, 2, dtype=torch.float64)
    value = collapsed_kl(two, two.clone(), torch.tensor([[1]]), torch.tensor([2]), torch.tensor([1]))
    assert float(value) == pytest.approx(0.0, abs=1e-12) and not torch.isnan(value)


def test_bad_inputs():
    student, teacher, targets, tl, ul = random_case()
    with pytest.raises(ValueError, match="teacher_logits"):
        collapsed_kl(student, teacher[:, :2], targets, tl, ul)
    with pytest.raises(ValueError, match="targets"):
        full_kl(student, teacher, targets[:, :1], tl, ul)
    with pytest.raises(ValueError, match="logit_lengths"):
        collapsed_kl(student, teacher, targets, tl + 5, ul)
    with pytest.raises(ValueError, match="reduction"):
        collapsed_kl(student, teacher, targets, tl, ul, reduction="avg")


def test_teacher_hypotheses_are_its_greedy_output():
    from edgeasr.train.evaluate import greedy_decode

    torch.manual_seed(0)
    teacher = Transducer(ModelConfig(num_features=8, stack=2, d_model=8, hidden=12, num_layers=1, decoder_dim=8,
                                     joiner_dim=8, vocab_size=5, dropout=0.0)).eval()
    with torch.no_grad():
        teacher.joiner.output.bias[0] = -0.5  # blank less likely: some tokens come out
    x = torch.randn(3, 16, 8)
    lengths = torch.tensor([16, 6, 0])
    hyps = greedy_decode(teacher, x, lengths)
    assert len(hyps[0]) > len(hyps[1]) > 0 and hyps[2] == []
    targets, target_lengths = teacher_hypotheses(teacher, x, lengths)
    assert target_lengths.tolist() == [len(h) for h in hyps]
    assert targets.shape == (3, len(hyps[0]))
    for row, h in zip(targets.tolist(), hyps):
        assert row == h + [0] * (targets.shape[1] - len(h))
    with torch.no_grad():  # nothing emitted at all: still a [N, 1] target tensor, lengths 0
        teacher.joiner.output.bias[0] = 100.0
    targets, target_lengths = teacher_hypotheses(teacher, x, lengths)
    assert targets.shape == (3, 1) and target_lengths.tolist() == [0, 0, 0]
