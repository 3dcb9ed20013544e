import pytest

torch = pytest.importorskip("torch")

from edgeasr.train.config import DataConfig  # noqa: E402
from edgeasr.train.lead_extend import MARGIN_FRAMES, extend_leads  # noqa: E402
from test_onset_crop import batch  # noqa: E402  (two utterances of 10 and 7 frames, frame i filled with i + 1)


def test_probability_one_prepends_the_utterances_own_background_reflected():
    x, lengths = batch()
    leads = torch.tensor([6, 4])  # background frames 1..3 and 1 (the last MARGIN_FRAMES of the lead stay out)
    seen = set()
    for seed in range(40):
        out, new, new_leads = extend_leads(x, lengths, leads, 1.0, 9, torch.Generator().manual_seed(seed))
        k = int(new[0] - lengths[0])
        seen.add(k)
        assert 0 <= k <= 9 and torch.equal(new_leads, leads + (new - lengths))
        assert torch.equal(out[0, k:k + 10], x[0, :10])            # the utterance itself, k frames later
        pattern = torch.tensor([1.0, 2, 3, 3, 2, 1] * 2)[:k]     # forward, reversed, forward...
        assert torch.equal(out[0, :k, 0], pattern)
        k1 = int(new[1] - lengths[1])
        assert torch.equal(out[1, :k1, 0], torch.ones(k1)) and torch.equal(out[1, k1:k1 + 7], x[1, :7])
        assert not out[1, k1 + 7:].any()                           # padded with zeros, as collate pads
    assert seen == set(range(10))
    assert x[0, 0, 0] == 1.0 and lengths.tolist() == [10, 7]   # the inputs are left as they were


def test_nothing_to_repeat_or_probability_zero_changes_nothing():
    x, lengths = batch()
    for leads, prob in ((torch.tensor([6, 4]), 0.0), (torch.tensor([MARGIN_FRAMES, 0]), 1.0)):
        out, new, new_leads = extend_leads(x, lengths, leads, prob, 9, torch.Generator().manual_seed(0))
        assert torch.equal(out, x) and torch.equal(new, lengths) and torch.equal(new_leads, leads)


def test_about_the_given_share_is_extended_and_seeds_repeat():
    x = torch.ones(400, 20, 2)
    lengths, leads = torch.full((400,), 20), torch.full((400,), 10)
    _, new, _ = extend_leads(x, lengths, leads, 0.5, 10, torch.Generator().manual_seed(1))
    extended = int((new > 20).sum())
    assert 140 < extended < 225  # expected 400 * 0.5 * 10/11 = 182 (an extension of 0 frames counts as none)
    _, again, _ = extend_leads(x, lengths, leads, 0.5, 10, torch.Generator().manual_seed(1))
    assert torch.equal(new, again)


def test_bad_arguments_raise():
    x, lengths = batch()
    with pytest.raises(ValueError, match="prob"):
        extend_leads(x, lengths, torch.tensor([1, 1]), 1.5, 5, torch.Generator())
    with pytest.raises(ValueError, match="max_frames"):
        extend_leads(x, lengths, torch.tensor([1, 1]), 0.5, -1, torch.Generator())
    with pytest.raises(ValueError, match="lead_frames"):
        extend_leads(x, lengths, torch.tensor([1, -1]), 0.5, 5, torch.Generator())
    with pytest.raises(ValueError, match="shape"):
        extend_leads(x, lengths, torch.tensor([1]), 0.5, 5, torch.Generator())
    with pytest.raises(ValueError, match="lead_extend"):
        DataConfig(lead_extend=1.5).validate()
    with pytest.raises(ValueError, match="lead_extend_max_s"):
        DataConfig(lead_extend_max_s=-1.0).validate()
