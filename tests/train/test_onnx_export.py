"""The sherpa-onnx export: the ONNX graphs compute what the PyTorch model computes, and sherpa-onnx itself, given
our features, decodes the same tokens as our greedy search.

sherpa_onnx, onnx and onnxruntime are in the ``test`` extra: a missing one fails the import here, nothing is skipped.
"""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import sherpa_onnx
import torch

from edgeasr.features import FbankConfig, compute_fbank
from edgeasr.tokens import TokenTable
from edgeasr.train.config import TrainConfig
from edgeasr.train.evaluate import greedy_decode
from edgeasr.train.model import ModelConfig, Transducer
from edgeasr.train.onnx_export import export_sherpa_onnx, main, sherpa_feature_kwargs

CHUNK = 16           # feature frames per encoder call: 4 encoder steps
SAMPLE_RATE = 16000
ATOL = 1e-4
# As our sentencepiece tables: blank, then "<unk>" at id 1, then pieces, some starting a word with "▁".
PIECES = ["<blk>", "<unk>"] + [("\u2581" if i % 3 == 0 else "") + chr(ord("a") + i) for i in range(18)]
UNK = 1


def tiny_config() -> ModelConfig:
    return ModelConfig(d_model=32, hidden=48, num_layers=2, decoder_dim=24, joiner_dim=40, vocab_size=len(PIECES))


def clip() -> np.ndarray:
    """1.6 s of a rising chirp, amplitude-modulated, with bursts of noise: features that change from frame to frame."""
    rng = np.random.default_rng(0)
    t = np.arange(int(1.6 * SAMPLE_RATE)) / SAMPLE_RATE
    chirp = 0.3 * np.sin(2 * np.pi * (200 * t + 900 * t ** 2)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    noise = 0.05 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 1.3 * t) > 0)
    return (chirp + noise).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> Transducer:
    """A random model that emits a varied token sequence on ``clip()`` and leaves about half the frames blank:
    a joiner with larger random weights and a blank bias, and the clip's own feature statistics as normalization.

    It never emits "<unk>": sherpa-onnx's searches treat the unk id as a blank (no token, no context change),
    ours emit it like any token, so a model that emits it would decode differently by design."""
    torch.manual_seed(0)
    m = Transducer(tiny_config()).eval()
    feats = torch.from_numpy(compute_fbank(clip(), SAMPLE_RATE))
    m.encoder.set_normalization(feats.mean(0), feats.std(0))
    with torch.no_grad():
        for lin in (m.joiner.enc_proj, m.joiner.dec_proj):
            torch.nn.init.normal_(lin.weight, std=0.3)
        torch.nn.init.normal_(m.joiner.output.weight, std=1.0)
        m.joiner.output.bias.zero_()
        m.joiner.output.bias[0] = 3.0
        m.joiner.output.bias[UNK] = -100.0
    return m


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    return export_sherpa_onnx(model, tmp_path_factory.mktemp("sherpa"), int8=True, tokens=TokenTable(PIECES),
                              chunk_frames=CHUNK)


def session(path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def metadata(path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


# ---- (a) the graphs against PyTorch

def test_metadata_is_what_sherpa_onnx_reads(exported):
    cfg = tiny_config()
    for files in exported.values():
        enc = metadata(files.encoder)
        assert enc["model_type"] == "lstm"
        assert int(enc["T"]) == int(enc["decode_chunk_len"]) == CHUNK
        assert (int(enc["num_encoder_layers"]), int(enc["d_model"]), int(enc["rnn_hidden_size"])) == \
            (cfg.num_layers, cfg.d_model, cfg.hidden)
        assert json.loads(enc["edgeasr_features"]) == sherpa_feature_kwargs()
        dec = metadata(files.decoder)
        assert (int(dec["vocab_size"]), int(dec["context_size"])) == (cfg.vocab_size, cfg.context_size)
        assert int(metadata(files.joiner)["joiner_dim"]) == cfg.joiner_dim
    assert TokenTable.read_tokens_txt(exported["fp32"].tokens) == TokenTable(PIECES)


def test_encoder_matches_pytorch_across_chunks(model, exported):
    """Two chunks in a row, states carried by the ONNX encoder, equal one PyTorch call over both (batch of 2)."""
    torch.manual_seed(1)
    x = torch.randn(2, 2 * CHUNK, 80) * 3 - 7
    with torch.no_grad():
        enc, _, (h_ref, c_ref) = model.encoder(x, torch.tensor([2 * CHUNK] * 2))
        want = model.joiner.enc_proj(enc).numpy()
    sess = session(exported["fp32"].encoder)
    assert [i.name for i in sess.get_inputs()] == ["x", "h", "c"]
    h, c = (s.numpy() for s in model.encoder.init_states(2))
    got = []
    for k in range(2):
        out, h, c = sess.run(None, {"x": x[:, k * CHUNK:(k + 1) * CHUNK].numpy(), "h": h, "c": c})
        assert out.shape == (2, CHUNK // 4, tiny_config().joiner_dim)
        got.append(out)
    np.testing.assert_allclose(np.concatenate(got, 1), want, atol=ATOL, rtol=0)
    np.testing.assert_allclose(h, h_ref.numpy(), atol=ATOL, rtol=0)
    np.testing.assert_allclose(c, c_ref.numpy(), atol=ATOL, rtol=0)


def test_decoder_and_joiner_match_pytorch(model, exported):
    torch.manual_seed(2)
    y = torch.randint(0, len(PIECES), (6, 2))
    y[0] = 0                                           # our start: all-blank context
    y[1] = torch.tensor([-1, 0])                       # sherpa-onnx's start: -1 is "nothing yet", a blank to us
    y[2, 0] = -1
    with torch.no_grad():
        dec_ref = model.joiner.dec_proj(model.decoder(y.clamp(min=0)[:, None, :])[:, 0])
        enc = model.joiner.enc_proj(torch.randn(6, tiny_config().d_model))
        logit_ref = model.joiner.joint(enc, dec_ref)
    dec = session(exported["fp32"].decoder).run(None, {"y": y.numpy()})[0]
    np.testing.assert_allclose(dec, dec_ref.numpy(), atol=ATOL, rtol=0)
    logit = session(exported["fp32"].joiner).run(None, {"encoder_out": enc.numpy(), "decoder_out": dec_ref.numpy()})[0]
    np.testing.assert_allclose(logit, logit_ref.numpy(), atol=ATOL, rtol=0)


def test_int8_encoder_stays_close_to_float(exported):
    torch.manual_seed(3)
    cfg = tiny_config()
    feed = {"x": (torch.randn(1, CHUNK, 80) * 3 - 7).numpy(),
            "h": np.zeros((cfg.num_layers, 1, cfg.d_model), np.float32),
            "c": np.zeros((cfg.num_layers, 1, cfg.hidden), np.float32)}
    ref = session(exported["fp32"].encoder).run(None, feed)[0]
    q = session(exported["int8"].encoder).run(None, feed)[0]
    assert np.abs(q - ref).max() < 0.05 * np.abs(ref).max()


# ---- (b) sherpa-onnx runs the files

def sherpa_frames(files, n: int, **feature_kwargs) -> np.ndarray:
    """The first ``n`` feature frames sherpa-onnx computes for ``clip()`` (OnlineStream.get_frames, for debugging)."""
    recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
        **{**files.recognizer_kwargs(), **feature_kwargs}, num_threads=1)
    stream = recognizer.create_stream()
    stream.accept_waveform(SAMPLE_RATE, clip())
    stream.input_finished()
    return np.array(stream.get_frames(0, n), dtype=np.float32).reshape(n, -1)


def test_sherpa_computes_our_features(exported):
    """With sherpa_feature_kwargs, sherpa-onnx's frames are ours up to the FFT's rounding (it builds
    kaldi-native-fbank >= 1.21, whose FFT is kissfft; edgeasr pins 1.20, bench/fbank_versions.py); with its defaults
    (snip_edges=False, high_freq=-400) they are not, and the model would see other features than it was trained on."""
    ours = compute_fbank(clip(), SAMPLE_RATE)
    np.testing.assert_allclose(sherpa_frames(exported["fp32"], len(ours)), ours, rtol=1e-3, atol=1e-3)
    defaults = sherpa_frames(exported["fp32"], len(ours), low_freq=20.0, high_freq=-400.0, snip_edges=False)
    assert np.abs(defaults - ours).mean() > 0.1


def sherpa_decode(files, method: str, max_active_paths: int = 4) -> list[int]:
    recognizer = sherpa_onnx.OnlineRecognizer.from_transducer(
        **files.recognizer_kwargs(), num_threads=1, decoding_method=method, max_active_paths=max_active_paths)
    stream = recognizer.create_stream()
    stream.accept_waveform(SAMPLE_RATE, clip())
    stream.input_finished()
    while recognizer.is_ready(stream):
        recognizer.decode_stream(stream)
    # sherpa-onnx's symbol table turns a leading "▁" into a space (sherpa-onnx/csrc/symbol-table.cc); our pieces
    # have no spaces, so this undoes it exactly.
    pieces = ["\u2581" + p[1:] if p.startswith(" ") else p for p in recognizer.get_result_all(stream).tokens]
    table = TokenTable(PIECES)
    return [table.id_of(piece) for piece in pieces]


def our_greedy(model) -> list[int]:
    """Our greedy search, one symbol per frame as sherpa-onnx's, over the frames sherpa-onnx decodes: a chunk runs
    once a frame beyond it is ready (IsReady: processed + T < ready), so (F - 1) // T whole chunks of the F frames."""
    feats = compute_fbank(clip(), SAMPLE_RATE, FbankConfig())
    used = (len(feats) - 1) // CHUNK * CHUNK
    x = torch.from_numpy(feats[:used])[None]
    return greedy_decode(model, x, torch.tensor([used]), max_symbols_per_frame=1)[0]


def test_sherpa_greedy_equals_our_greedy(model, exported):
    want = our_greedy(model)
    encoder_frames = (len(compute_fbank(clip(), SAMPLE_RATE)) - 1) // CHUNK * CHUNK // 4
    # A real test: tokens on a quarter to all but one of the frames, several distinct, some starting a word.
    assert encoder_frames / 4 < len(want) < encoder_frames and len(set(want)) >= 5, want
    assert any(TokenTable(PIECES).starts_word(t) for t in want), want
    assert sherpa_decode(exported["fp32"], "greedy_search") == want
    # A beam of one is greedy search too (argmax of the log-softmax).
    assert sherpa_decode(exported["fp32"], "modified_beam_search", max_active_paths=1) == want


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("method", ["greedy_search", "modified_beam_search"])
def test_sherpa_loads_and_decodes(exported, precision, method):
    tokens = sherpa_decode(exported[precision], method)
    assert tokens and all(UNK < t < len(PIECES) for t in tokens)


# ---- API and CLI

def test_checkpoint_through_the_cli(model, tmp_path, capsys):
    cfg = tiny_config()
    torch.save({"model": model.state_dict(), "config": TrainConfig(model=cfg).to_dict(), "tokens": PIECES},
               tmp_path / "ckpt.pt")
    main([str(tmp_path / "ckpt.pt"), str(tmp_path / "out"), "--chunk-frames", "8"])
    assert "fp32:" in capsys.readouterr().out
    assert not (tmp_path / "out" / "encoder.int8.onnx").exists()
    assert metadata(tmp_path / "out" / "encoder.onnx")["T"] == "8"
    y = np.array([[0, 0], [3, 7]], np.int64)
    with torch.no_grad():
        want = model.joiner.dec_proj(model.decoder(torch.from_numpy(y)[:, None, :])[:, 0]).numpy()
    got = session(tmp_path / "out" / "decoder.onnx").run(None, {"y": y})[0]
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)


def test_rejects_bad_arguments(model, tmp_path):
    table = TokenTable(PIECES)
    with pytest.raises(ValueError, match="tokens: a TokenTable is required"):
        export_sherpa_onnx(model, tmp_path)
    with pytest.raises(ValueError, match="chunk_frames"):
        export_sherpa_onnx(model, tmp_path, tokens=table, chunk_frames=18)
    with pytest.raises(ValueError, match="tokens: 3 pieces"):
        export_sherpa_onnx(model, tmp_path, tokens=TokenTable(PIECES[:3]))
    with pytest.raises(ValueError, match="is not a file"):
        export_sherpa_onnx(tmp_path / "missing.pt", tmp_path)
