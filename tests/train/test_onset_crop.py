import pytest

torch = pytest.importorskip("torch")

from edgeasr.train.config import DataConfig  # noqa: E402
from edgeasr.train.onset_crop import crop_onsets  # noqa: E402


def batch():
    """Two utterances, 10 and 7 frames of 3 bins, each frame filled with its index + 1 (padding stays 0)."""
    x = torch.zeros(2, 10, 3)
    x[0, :10] = torch.arange(1, 11, dtype=torch.float32)[:, None]
    x[1, :7] = torch.arange(1, 8, dtype=torch.float32)[:, None]
    return x, torch.tensor([10, 7])


def test_probability_one_starts_each_utterance_within_its_lead():
    x, lengths = batch()
    leads = torch.tensor([4, 2])
    seen = [set(), set()]
    for seed in range(60):
        out, new = crop_onsets(x, lengths, leads, 1.0, torch.Generator().manual_seed(seed))
        for i in range(2):
            k = int(lengths[i] - new[i])
            assert 0 <= k <= int(leads[i])
            seen[i].add(k)
            t = int(new[i])
            assert torch.equal(out[i, :t], x[i, k:k + t])  # the same frames, k later
            assert not out[i, t:].any()                      # padded with zeros, as collate pads
    assert seen == [set(range(5)), set(range(3))]  # every crop from none to the whole lead occurs
    assert x[0, 0, 0] == 1.0                         # the input is left as it was


def test_probability_zero_and_zero_leads_change_nothing():
    x, lengths = batch()
    out, new = crop_onsets(x, lengths, torch.tensor([4, 2]), 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(out, x) and torch.equal(new, lengths)
    out, new = crop_onsets(x, lengths, torch.tensor([0, 0]), 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out, x) and torch.equal(new, lengths)


def test_a_lead_longer_than_the_utterance_keeps_a_frame():
    x, lengths = batch()
    for seed in range(40):
        _, new = crop_onsets(x, lengths, torch.tensor([50, 50]), 1.0, torch.Generator().manual_seed(seed))
        assert (new >= 1).all()


def test_about_the_given_share_is_cropped_and_seeds_repeat():
    x = torch.ones(400, 20, 2)
    lengths, leads = torch.full((400,), 20), torch.full((400,), 10)
    _, new = crop_onsets(x, lengths, leads, 0.5, torch.Generator().manual_seed(1))
    cropped = int((new < 20).sum())
    # A crop of 0 frames counts as not cropped: expected 400 * 0.5 * 10/11 = 182.
    assert 140 < cropped < 225
    _, again = crop_onsets(x, lengths, leads, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(new, again)


@pytest.mark.parametrize("prob", [-0.1, 1.5])
def test_bad_arguments_raise(prob):
    x, lengths = batch()
    with pytest.raises(ValueError, match="prob"):
        crop_onsets(x, lengths, torch.tensor([1, 1]), prob, torch.Generator())
    with pytest.raises(ValueError, match="lead_frames"):
        crop_onsets(x, lengths, torch.tensor([1, -1]), 0.5, torch.Generator())
    with pytest.raises(ValueError, match="shape"):
        crop_onsets(x, lengths, torch.tensor([1]), 0.5, torch.Generator())
    with pytest.raises(ValueError, match="onset_crop"):
        DataConfig(onset_crop=prob).validate()
