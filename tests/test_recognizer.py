"""The streaming recognizer end to end on a small random model: native results equal PyTorch's, streaming equals
whole-clip decoding, resampling, biasing, threads, and clear errors on bad audio."""

import json
import re
import pickle
import random
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeasr import _core
from edgeasr.audio import load_audio, resample
from edgeasr.features import compute_fbank
from edgeasr.model_file import load_model
from edgeasr.recognizer import (CONTEXT_SCORE_BY_BEAM, DEFAULT_BEAM, SEARCH_DEFAULTS, Recognizer, RecognizerConfig,
                                default_model_path, lm_search_defaults)
from edgeasr.tokens import TokenTable
from edgeasr.train.config import TrainConfig
from edgeasr.train.evaluate import greedy_decode
from edgeasr.train.export import export_model, load_trained
from edgeasr.train.model import ModelConfig, Transducer

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

# Characters only: TokenTable.encode follows sentencepiece's BPE, which can only build a longer piece through
# shorter ones in the vocabulary.
PIECES = ["<blk>", "<unk>", "▁", "a", "c", "e", "g", "h", "i", "l", "n", "o", "s", "t"]
CONFIG = ModelConfig(num_features=80, stack=4, d_model=24, hidden=40, num_layers=2, decoder_dim=16, context_size=2,
                     joiner_dim=20, vocab_size=len(PIECES))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A random model that emits varied tokens (strong joiner, blank and unk held back), exported three ways."""
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(3)
    model = Transducer(CONFIG)
    with torch.no_grad():
        model.joiner.output.weight.mul_(6.0)
        model.joiner.output.bias.zero_()
        model.joiner.output.bias[0] = 0.5
        model.joiner.output.bias[1] = -100.0
        model.encoder.set_normalization(torch.full((80,), -8.0), torch.full((80,), 3.0))
    table = TokenTable(PIECES, [0.0] * len(PIECES))
    torch.save({"model": model.state_dict(), "config": TrainConfig(model=CONFIG).to_dict(),
                "tokens": table.to_json()}, d / "ckpt.pt")
    paths = {w: export_model(d / "ckpt.pt", d / f"{w}.safetensors", weights=w) for w in ("float32", "int8")}
    paths["sparse_int4"] = export_model(d / "ckpt.pt", d / "sparse_int4.safetensors", weights="int4", sparsity=0.5)
    torch_model, torch_table = load_trained(d / "ckpt.pt")
    return paths, torch_model, torch_table


def clip(seed: int, seconds: float = 2.0, rate: int = 16000) -> np.ndarray:
    """Noise bursts and tones: features that change, so the random model's outputs change."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = np.zeros(n)
    for _ in range(6):
        a, b = sorted(rng.integers(0, n, size=2))
        x[a:b] += rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * rng.uniform(100, 3000) * t[a:b])
        x[a:b] += rng.uniform(0.0, 0.1) * rng.standard_normal(b - a)
    return x.astype(np.float32)


def torch_greedy(model, samples):
    feats = torch.from_numpy(compute_fbank(samples, 16000))[None]
    return greedy_decode(model, feats, torch.tensor([feats.shape[1]]), max_symbols_per_frame=1)[0]


def test_native_greedy_equals_pytorch_greedy(models):
    paths, torch_model, _ = models
    # No tail padding: PyTorch decodes the clip's own features.
    rec = Recognizer(paths["float32"], RecognizerConfig(decoding="greedy_search", blank_penalty=0.0,
                                                        tail_padding_s=0.0))
    emitted = 0
    for seed in range(6):
        samples = clip(seed)
        want = torch_greedy(torch_model, samples)
        got = rec.transcribe(samples, 16000).result().tokens
        assert got == want
        emitted += len(want)
    assert emitted > 20  # the comparison is about real token sequences, not empty ones


def test_quantized_models_decode_close_to_float(models):
    paths, _, _ = models
    ref = Recognizer(paths["float32"], RecognizerConfig(decoding="greedy_search"))
    rec = Recognizer(paths["int8"], RecognizerConfig(decoding="greedy_search"))
    same = total = 0
    for seed in range(4):
        a = ref.transcribe(clip(seed), 16000).result().tokens
        b = rec.transcribe(clip(seed), 16000).result().tokens
        total += max(len(a), len(b))
        same += sum(x == y for x, y in zip(a, b))
    assert total and same / total > 0.8
    # Half the weights of a random model pruned changes what it says; here it only has to load and run.
    sparse = Recognizer(paths["sparse_int4"]).transcribe(clip(0), 16000)
    assert sparse.result().final and sparse.lattice().num_paths() >= 1


def test_sparse_weights_decoded_on_load_give_the_same_results(models):
    """A sparse file's matrices decoded to dense on load (the default) or kept sparse: the same integer products,
    so the same tokens, scores and lattices, with the dense kernels in one and the zero-skipping ones in the other."""
    paths, _, _ = models
    model = load_model(paths["sparse_int4"])
    assert {t.format for t in model.tensors.values() if hasattr(t, "format")} == {"sparse_q4"}
    recs = {w: Recognizer(model, RecognizerConfig(beam=4, sparse_weights=w)) for w in ("dense", "sparse")}
    assert RecognizerConfig().sparse_weights == "dense"
    assert set(recs["dense"].matrix_formats.values()) == {"dense_q4"}
    assert set(recs["sparse"].matrix_formats.values()) == {"sparse_q4"}
    assert recs["dense"].matrix_bytes > recs["sparse"].matrix_bytes
    for seed in range(3):
        a, b = (recs[w].transcribe(clip(seed), 16000) for w in ("dense", "sparse"))
        assert a.result().tokens == b.result().tokens and a.result().score == b.result().score
        assert [(h.text, h.score) for h in a.nbest(4)] == [(h.text, h.score) for h in b.nbest(4)]
        assert a.lattice().arcs == b.lattice().arcs
    with pytest.raises(ValueError, match="sparse_weights"):
        Recognizer(model, RecognizerConfig(sparse_weights="zeros"))


def test_streaming_in_pieces_equals_the_whole_clip(models):
    paths, _, _ = models
    rec = Recognizer(paths["int8"], RecognizerConfig(beam=4, chunk_frames=8))
    samples = clip(11, 3.0)
    whole = rec.transcribe(samples, 16000)
    stream = rec.create_stream()
    rng = np.random.default_rng(0)
    i = 0
    while i < samples.size:
        n = int(rng.integers(0, 3000))
        stream.accept_waveform(samples[i:i + n], 16000)
        i += n
    stream.input_finished()
    assert stream.result() == whole.result()
    assert stream.lattice() == whole.lattice()
    assert stream.result().final


def test_search_takes_float32_arrays_whose_dtype_object_differs(models):
    """An unpickled array's dtype equals float32 but is another object; the search once refused it."""
    paths, _, _ = models
    rec = Recognizer(paths["int8"])
    net = rec.network
    enc = net.project_encoder(net.encode(compute_fbank(clip(2), 16000), net.init_state()))
    copy = pickle.loads(pickle.dumps(enc))
    assert copy.dtype is not enc.dtype
    results = []
    for frames in (enc, copy):
        search = rec._search(None)
        search.accept_frames(frames)
        results.append(search.result()["tokens"])
    assert results[0] == results[1]


def _check_bpe_agrees(table: TokenTable, texts) -> int:
    """Native BPE (the recognizer's phrase tokenizer) against TokenTable.encode; returns how many texts raised."""
    native = _core.BpeEncoder(list(table.pieces), list(table.scores))
    raised = 0
    for text in texts:
        try:
            want = table.encode(text)
        except ValueError:
            with pytest.raises(ValueError):
                native.encode(text)
            raised += 1
            continue
        assert native.encode(text) == want, text
    return raised


def test_native_bpe_equals_token_table_encode():
    """The bundled model's real pieces and scores, and small tables with many equal scores (ties: leftmost pair)."""
    rng = random.Random(0)
    table = load_model(default_model_path()).tokens
    words = sorted({p.lstrip("\u2581") for p in table.pieces[2:] if p.lstrip("\u2581")})
    chars = sorted(set("".join(words))) + ["\u00e9", "\u00df", "\u4e2d", "\U0001f600", "-", "\t"]
    texts = ["", " ", "   ", "a", " leading and  double  spaces ", "\u4e2d\u4e2d\u00e9 x"]
    for _ in range(400):
        n = rng.randint(1, 4)
        texts.append(" ".join(rng.choice(words) + rng.choice(words) if rng.random() < 0.5
                              else "".join(rng.choice(chars) for _ in range(rng.randint(1, 9))) for _ in range(n)))
    assert _check_bpe_agrees(table, texts) == 0  # the bundled table has <unk>

    for seed in range(20):
        rng = random.Random(seed)
        pieces = ["<blk>"] + (["<unk>"] if seed % 2 else []) + ["\u2581", "a", "b", "c"]
        while len(pieces) < 30:
            p = rng.choice(["\u2581", ""]) + "".join(rng.choice("abc") for _ in range(rng.randint(2, 4)))
            if p not in pieces:
                pieces.append(p)
        small = TokenTable(pieces, [float(rng.randint(0, 2)) for _ in pieces])
        texts = [" ".join("".join(rng.choice("abcd") for _ in range(rng.randint(1, 12)))
                          for _ in range(rng.randint(1, 3))) for _ in range(200)]
        raised = _check_bpe_agrees(small, texts)
        assert (raised > 0) == (seed % 2 == 0)  # "d" is unknown: <unk>, or ValueError without one


def test_other_sample_rates_are_resampled(models):
    paths, _, _ = models
    rec = Recognizer(paths["int8"], RecognizerConfig(decoding="greedy_search"))
    at16 = clip(5)
    at8 = resample(at16, 16000, 8000)
    want = rec.transcribe(resample(at8, 8000, 16000), 16000).result()
    stream = rec.create_stream()
    for i in range(0, at8.size, 777):
        stream.accept_waveform(at8[i:i + 777], 8000)
    stream.input_finished()
    assert stream.result() == want
    with pytest.raises(ValueError, match="sample_rate"):
        s = rec.create_stream()
        s.accept_waveform(at8[:100], 8000)
        s.accept_waveform(at8[:100], 16000)


def test_integer_audio_is_scaled(models):
    paths, _, _ = models
    rec = Recognizer(paths["int8"], RecognizerConfig(decoding="greedy_search"))
    samples = clip(2)
    pcm = np.round(samples * 32768).clip(-32768, 32767).astype(np.int16)
    assert (rec.transcribe(pcm, 16000).result().tokens ==
            rec.transcribe(pcm.astype(np.float32) / 32768, 16000).result().tokens)


def test_beam_one_equals_greedy_and_beam_results_are_consistent(models):
    paths, _, _ = models
    greedy = Recognizer(paths["int8"], RecognizerConfig(decoding="greedy_search"))  # blank penalty 1.5
    beam1 = Recognizer(paths["int8"], RecognizerConfig(beam=1, blank_penalty=1.5, token_reward=0.0))
    # For an argmax a token reward r makes the choices a blank penalty r makes (docs/bundled-model.md, "Search score
    # settings").
    beam1_rewarded = Recognizer(paths["int8"], RecognizerConfig(beam=1, blank_penalty=0.0, token_reward=1.5))
    beam4 = Recognizer(paths["int8"], RecognizerConfig(beam=4))
    for seed in range(3):
        samples = clip(seed)
        tokens = greedy.transcribe(samples, 16000).result().tokens
        assert beam1.transcribe(samples, 16000).result().tokens == tokens
        assert beam1_rewarded.transcribe(samples, 16000).result().tokens == tokens
        s = beam4.transcribe(samples, 16000)
        nbest = s.nbest(4)
        assert nbest[0].text == s.result().text
        assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)
        lat = s.lattice()
        assert lat.num_paths() >= len(nbest)
        for w in s.result().words:
            assert 0.0 <= w.confidence <= 1.0 and w.start < w.end


def test_score_settings_left_unset_take_the_searchs_defaults(models):
    paths, _, _ = models
    for decoding, defaults in SEARCH_DEFAULTS.items():
        rec = Recognizer(paths["int8"], RecognizerConfig(decoding=decoding))
        assert (rec.config.blank_penalty, rec.config.token_reward) == (defaults["blank_penalty"],
                                                                       defaults["token_reward"])
    given = Recognizer(paths["int8"], RecognizerConfig(blank_penalty=0.25, token_reward=-0.5)).config
    assert (given.blank_penalty, given.token_reward) == (0.25, -0.5)
    config = RecognizerConfig()
    Recognizer(paths["int8"], config)
    assert config.blank_penalty is None and config.token_reward is None  # the caller's config is left alone


def test_token_reward_emits_more_and_keeps_the_lattice_best_path_the_1best(models):
    paths, _, _ = models
    counts = {}
    for reward in (0.0, 2.0):
        rec = Recognizer(paths["int8"], RecognizerConfig(beam=4, token_reward=reward))
        counts[reward] = 0
        for seed in range(4):
            stream = rec.transcribe(clip(seed), 16000)
            result = stream.result()
            counts[reward] += len(result.tokens)
            assert stream.lattice().text() == result.text
    assert counts[2.0] > counts[0.0]


def test_blank_penalty_is_a_lower_blank_logit(models, tmp_path):
    """blank_penalty p on a model decodes exactly like penalty 0 on the same model with the blank's output bias
    lowered by p (sherpa-onnx's meaning): tokens and scores, greedy and beam; and it makes the search emit more."""
    paths, torch_model, table = models
    p = 1.5
    lowered = {k: v.clone() for k, v in torch_model.state_dict().items()}
    lowered["joiner.output.bias"][0] -= p
    torch.save({"model": lowered, "config": TrainConfig(model=CONFIG).to_dict(), "tokens": table.to_json()},
               tmp_path / "lowered.pt")
    lowered_path = export_model(tmp_path / "lowered.pt", tmp_path / "lowered.safetensors", weights="float32")
    emitted = {0.0: 0, p: 0}
    for decoding in ("greedy_search", "modified_beam_search"):
        penalized = Recognizer(paths["float32"], RecognizerConfig(decoding=decoding, blank_penalty=p))
        reference = Recognizer(lowered_path, RecognizerConfig(decoding=decoding, blank_penalty=0.0))
        plain = Recognizer(paths["float32"], RecognizerConfig(decoding=decoding, blank_penalty=0.0))
        for seed in range(3):
            got, want = penalized.transcribe(clip(seed), 16000), reference.transcribe(clip(seed), 16000)
            assert got.result().tokens == want.result().tokens
            assert got.result().score == pytest.approx(want.result().score, abs=1e-3)
            assert [h.text for h in got.nbest(4)] == [h.text for h in want.nbest(4)]
            emitted[p] += len(got.result().tokens)
            emitted[0.0] += len(plain.transcribe(clip(seed), 16000).result().tokens)
    assert emitted[p] > emitted[0.0]


def test_biasing_pulls_in_a_phrase_and_weight_zero_changes_nothing(models):
    paths, _, _ = models
    samples = clip(4)
    plain = Recognizer(paths["int8"], RecognizerConfig(beam=4))
    base = plain.transcribe(samples, 16000).result()
    assert plain.transcribe(samples, 16000, context=[("light on", 0.0)]).result() == base
    phrase = "light on"
    assert phrase not in base.text
    strong = Recognizer(paths["int8"], RecognizerConfig(beam=4, context_score=30.0))
    biased = strong.transcribe(samples, 16000, context=[phrase]).result()
    assert phrase in biased.text
    assert biased.final


def test_biasing_counts_a_phrase_only_before_a_word_boundary(models):
    paths, _, _ = models
    rec = Recognizer(paths["int8"], RecognizerConfig(context_score=1.0))
    graph, encode = rec.context_graph(["light"]), rec.tokens.encode
    assert len(encode("light")) == 6  # "▁" and five letters, each earning 1
    assert graph.score(encode("the light")) == pytest.approx(6.0)
    assert graph.score(encode("light on")) == pytest.approx(6.0)
    assert graph.score(encode("the lights")) == 0.0  # "s" goes on with the word: not the phrase
    assert graph.score(encode("lights light")) == pytest.approx(6.0)


def test_context_graph_from_texts_equals_the_graph_of_token_lists():
    """Recognizer.context_graph tokenizes a whole list natively (ContextGraph.from_texts); the graph is the one
    built from TokenTable.encode's token lists."""
    rec = Recognizer(default_model_path(), RecognizerConfig(context_score=0.75))
    phrases = ["siobhan oyelaran", ("kitchen light", 2.0), "  Living Room Lamp ", ("mom", 0.0), "dad"]
    graph = rec.context_graph(phrases)
    norm = [(p, 1.0) if isinstance(p, str) else p for p in phrases]
    reference = _core.ContextGraph([(rec.tokens.encode(t.strip().lower()), w) for t, w in norm],
                                   bonus_per_token=0.75, word_continuations=rec.tokens.word_continuations())
    assert graph.num_states == reference.num_states and graph.num_phrases == reference.num_phrases == 4
    for text in ("call siobhan oyelaran", "turn on the kitchen light", "living room lamp please", "call mom",
                 "dad", "siobhan", "kitchen lights"):
        tokens = rec.tokens.encode(text)
        for settle in (True, False):
            assert graph.score(tokens, settle) == pytest.approx(reference.score(tokens, settle))
    assert graph.score(rec.tokens.encode("turn on the kitchen light")) > 0


def test_context_graph_from_texts_names_the_bad_phrase():
    rec = Recognizer(default_model_path())
    bpe = _core.BpeEncoder(list(rec.tokens.pieces), list(rec.tokens.scores))
    with pytest.raises(ValueError, match=r"context\[1\]: the model's tokens cannot spell 'caf\u00e9 \u00fc'"):
        _core.ContextGraph.from_texts(bpe, ["ok", "caf\u00e9 \u00fc"], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"context\[0\]: '' has no tokens"):
        _core.ContextGraph.from_texts(bpe, [""], [1.0])
    with pytest.raises(ValueError, match="2 phrases but 1 weights"):
        _core.ContextGraph.from_texts(bpe, ["a", "b"], [1.0])
    with pytest.raises(ValueError, match="weight"):
        _core.ContextGraph.from_texts(bpe, ["a"], [-1.0])


def test_streams_decode_in_parallel_threads(models):
    paths, _, _ = models
    rec = Recognizer(paths["int8"], RecognizerConfig(beam=4))
    clips = [clip(s) for s in range(4)]
    serial = [rec.transcribe(c, 16000).result() for c in clips]
    results = [None] * len(clips)

    def work(i):
        for _ in range(3):
            results[i] = rec.transcribe(clips[i], 16000).result()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == serial


@pytest.mark.parametrize("bad, match", [
    (np.array([0.1, np.nan], np.float32), "NaN"),
    (np.zeros((100, 2), np.float32), "channel"),
    (np.zeros(100, np.uint8), "dtype"),
    ("not audio", "samples"),
])
def test_bad_audio_raises_a_clear_error(models, bad, match):
    paths, _, _ = models
    stream = Recognizer(paths["int8"]).create_stream()
    with pytest.raises(ValueError, match=match):
        stream.accept_waveform(bad, 16000)


def test_bad_configs_and_finished_streams(models):
    paths, _, _ = models
    with pytest.raises(ValueError, match="chunk_frames"):
        Recognizer(paths["int8"], RecognizerConfig(chunk_frames=6))
    with pytest.raises(ValueError, match="decoding"):
        Recognizer(paths["int8"], RecognizerConfig(decoding="beam"))
    for bad in (float("nan"), float("inf"), "0.5", True):
        with pytest.raises(ValueError, match="token_reward"):
            Recognizer(paths["int8"], RecognizerConfig(token_reward=bad))
    with pytest.raises(ValueError, match="token_reward: modified_beam_search only"):
        Recognizer(paths["int8"], RecognizerConfig(decoding="greedy_search", token_reward=0.5))
    with pytest.raises(ValueError, match="blank_penalty"):
        Recognizer(paths["int8"], RecognizerConfig(blank_penalty=-1.0))
    for bad in (1, "yes", None):
        with pytest.raises(ValueError, match="lm_end_of_sentence"):
            Recognizer(paths["int8"], RecognizerConfig(lm_end_of_sentence=bad))
    rec = Recognizer(paths["int8"])
    with pytest.raises(ValueError, match="context"):
        rec.create_stream(context=[""])
    with pytest.raises(ValueError, match="cannot spell"):
        rec.create_stream(context=["light", "xylophone"])  # no piece for "x" in this vocabulary
    stream = rec.transcribe(clip(0), 16000)
    with pytest.raises(ValueError, match="input_finished"):
        stream.accept_waveform(clip(1), 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        rec.create_stream().accept_waveform(clip(0), 0)


def test_inference_never_imports_torch(models, tmp_path):
    """Nor the kaldi-native-fbank package: the front end is native."""
    import subprocess
    import sys

    import soundfile as sf

    paths, _, _ = models
    wav = tmp_path / "clip.wav"
    sf.write(wav, clip(1), 16000)
    code = ("import sys, edgeasr.cli as c; c.main(['transcribe', sys.argv[1], '--model', sys.argv[2]]); "
            "bad = [m for m in ('torch', 'kaldi_native_fbank') if m in sys.modules]; assert not bad, bad")
    run = subprocess.run([sys.executable, "-c", code, str(wav), str(paths["int8"])], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_cli_transcribe_json_and_context(models, tmp_path, capsys):
    import json

    import soundfile as sf

    from edgeasr.cli import main

    paths, _, _ = models
    wav = tmp_path / "clip.wav"
    sf.write(wav, (clip(4) * 32767).astype(np.int16), 16000, subtype="PCM_16")
    ctx = tmp_path / "contacts.txt"
    ctx.write_text("# contacts\nlight on\t2\n\ncoat\n")
    assert main(["transcribe", str(wav), "--model", str(paths["int8"]), "--json", "--context", str(ctx),
                 "--nbest", "3"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record) >= {"text", "words", "nbest"}
    assert record["text"] == record["nbest"][0]["text"] and len(record["nbest"]) <= 3
    for w in record["words"]:
        assert set(w) == {"word", "start", "end", "confidence"} and w["start"] < w["end"]
    ctx.write_text("light on\tloud\n")
    assert main(["transcribe", str(wav), "--model", str(paths["int8"]), "--context", str(ctx)]) == 1
    assert "not a number" in capsys.readouterr().err
    assert main(["transcribe", str(tmp_path / "missing.wav"), "--model", str(paths["int8"])]) == 1
    # --tail-padding reaches the recognizer: 0 gives the unpadded recognizer's words, a negative value is refused.
    assert main(["transcribe", str(wav), "--model", str(paths["int8"]), "--json", "--tail-padding", "0"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["transcribe", str(wav), "--model", str(paths["int8"]), "--json", "--tail-padding", "-1"]) == 1
    assert "tail_padding_s" in capsys.readouterr().err
    unpadded = Recognizer(paths["int8"], RecognizerConfig(tail_padding_s=0.0)).transcribe(*load_audio(wav)).result()
    assert [w["word"] for w in plain["words"]] == [w.word for w in unpadded.words]
    assert [w["end"] for w in plain["words"]] == pytest.approx([w.end for w in unpadded.words], abs=1e-3)


def test_lattice_posteriors_flow_from_start_to_finals(models):
    paths, _, _ = models
    rec = Recognizer(paths["int8"], RecognizerConfig(beam=4))
    for seed in range(3):
        lat = rec.transcribe(clip(seed), 16000).lattice()
        out_flow, in_flow = {}, {}
        for a in lat.arcs:
            assert 0.0 <= a.posterior <= 1.0 + 1e-5 and a.start <= a.end
            out_flow[a.src] = out_flow.get(a.src, 0.0) + a.posterior
            in_flow[a.dst] = in_flow.get(a.dst, 0.0) + a.posterior
        assert out_flow[lat.start] == pytest.approx(1.0, abs=1e-4)
        assert sum(in_flow.get(f, 0.0) for f in lat.finals) == pytest.approx(1.0, abs=1e-4)
        for node in out_flow:  # what flows into a node flows out of it
            if node != lat.start and node not in lat.finals:
                assert out_flow[node] == pytest.approx(in_flow.get(node, 0.0), abs=1e-4)


def test_the_beam_search_defaults_are_the_recorded_tunes_choice():
    """SEARCH_DEFAULTS' beam search settings and the biasing bonus are those bench/search_tune.py chose for the
    bundled model (bench/results/search_tune-v2-refresh.json)."""
    results = Path(__file__).resolve().parent.parent / "bench" / "results"
    tune = json.loads((results / "search_tune-v2-refresh.json").read_text())
    chosen, context = tune["chosen"], tune["chosen_context"]
    beam = SEARCH_DEFAULTS["modified_beam_search"]
    assert (beam["token_reward"], beam["blank_penalty"]) == (chosen["token_reward"], chosen["blank_penalty"])
    assert tune["run"].get("beam", 4) == 4  # its run predates the field: all runs were at beam 4 then
    assert CONTEXT_SCORE_BY_BEAM[4] == context["context_score"]
    # The bonus at beam 16, tuned at that width's settings with the LM and without it: both chose the same.
    for name, lm in (("search_tune-context-lm-beam16.json", True), ("search_tune-context-beam16.json", False)):
        tune = json.loads((results / name).read_text())
        chosen, context = tune["chosen"], tune["chosen_context"]
        assert tune["run"]["beam"] == 16 and (tune["run"]["lm"] is not None) == lm
        expected = lm_search_defaults(16) if lm else {"lm_scale": 0.0, "token_reward": beam["token_reward"]}
        assert {k: chosen[k] for k in expected} == expected and chosen["blank_penalty"] == beam["blank_penalty"]
        assert CONTEXT_SCORE_BY_BEAM[16] == context["context_score"]
    # Each width takes its tuned bonus (tuned_width); greedy search counts as width 1.
    assert RecognizerConfig.context_score is None
    for decoding, width, bonus in (("modified_beam_search", 16, 1.0), ("modified_beam_search", 32, 1.0),
                                   ("modified_beam_search", 8, 0.5), ("modified_beam_search", 4, 0.5),
                                   ("greedy_search", 16, 0.5)):
        assert RecognizerConfig(decoding=decoding, beam=width).resolved().context_score == bonus
        assert RecognizerConfig(decoding=decoding, beam=width).resolved(with_lm=True).context_score == bonus
    assert RecognizerConfig(context_score=0.75).resolved().context_score == 0.75
    assert Recognizer().config.context_score == CONTEXT_SCORE_BY_BEAM[DEFAULT_BEAM]


def test_input_finished_feeds_tail_padding_of_silence(models):
    """tail_padding_s of zeros after the audio: the same as decoding the padded clip without padding, and not the same
    as the clip alone (the check can fail)."""
    paths, _, _ = models
    plain = Recognizer(paths["int8"], RecognizerConfig(tail_padding_s=0.0))
    padded = Recognizer(paths["int8"], RecognizerConfig(tail_padding_s=0.3))
    differs = 0
    for seed in range(4):
        samples = clip(seed)
        with_zeros = np.concatenate([samples, np.zeros(int(0.3 * 16000), np.float32)])
        a, b = padded.transcribe(samples, 16000), plain.transcribe(with_zeros, 16000)
        assert a.result().tokens == b.result().tokens and a.num_frames == b.num_frames
        assert a.result().score == pytest.approx(b.result().score, abs=1e-5)
        differs += a.num_frames != plain.transcribe(samples, 16000).num_frames
    assert differs == 4


def test_tail_padding_default_and_validation():
    recorded = json.loads((Path(__file__).parents[1] / "bench" / "results" / "tail_padding.json").read_text())
    assert RecognizerConfig().tail_padding_s == recorded["chosen"]
    for bad in (-0.1, 11.0, True, float("nan"), "0.2"):
        with pytest.raises(ValueError, match="tail_padding_s"):
            RecognizerConfig(tail_padding_s=bad).validate()


def test_lead_padding_starts_the_encoder_from_silence(models):
    """lead_padding_s: the stream's encoder starts from the state that that much digital silence leaves (its feature
    frames computed apart from the audio), so the audio's own frames and times are those of an unpadded stream; the
    same transcript and score as a hand-built pipeline, and another score than no padding (the check can fail)."""
    paths, _, _ = models
    lead = 0.2
    padded = Recognizer(paths["int8"], RecognizerConfig(lead_padding_s=lead, tail_padding_s=0.0))
    plain = Recognizer(paths["int8"], RecognizerConfig(tail_padding_s=0.0))
    net, cfg = padded.network, padded.config
    differs = 0
    for seed in range(4):
        samples = clip(seed)
        state = net.init_state()
        frames = round(lead * 100)
        net.encode(compute_fbank(np.zeros(400 + frames * 160, np.float32), 16000)[:frames], state)
        search = _core.BeamSearch(net, list(padded.tokens.pieces),
                                  _core.BeamSearchConfig(cfg.beam, cfg.blank_penalty, cfg.lattice_beam,
                                                         token_reward=cfg.token_reward))
        search.accept_frames(net.project_encoder(net.encode(compute_fbank(samples, 16000), state)))
        search.finalize()
        want = search.result()
        got = padded.transcribe(samples, 16000)
        assert got.result().tokens == list(want["tokens"])
        assert got.result().score == pytest.approx(want["score"], abs=1e-4)
        assert got.num_frames == plain.transcribe(samples, 16000).num_frames  # the padding adds no frames
        differs += abs(got.result().score - plain.transcribe(samples, 16000).result().score) > 1e-3
    assert differs == 4
    assert RecognizerConfig().lead_padding_s == 0.0  # the dev rule's choice (bench/results/onset-lead-padding.md)
    for bad in (-0.1, 11.0, True, float("nan"), "0.2"):
        with pytest.raises(ValueError, match="lead_padding_s"):
            RecognizerConfig(lead_padding_s=bad).validate()


GRAMMAR = ["light on", "coat", "hello", "the cat"]


def _spells_phrases(text: str, phrases: list[str], repeat: bool) -> bool:
    alternatives = "|".join(phrases)
    pattern = f"({alternatives})( ({alternatives}))*" if repeat else f"({alternatives})"
    return text == "" or re.fullmatch(pattern, text) is not None


def test_grammar_allows_only_its_phrases(models):
    """Every transcript and N-best entry is one phrase (or a sequence of them with repeat) or empty; the open
    vocabulary says other things on the same clips, and the grammar does pick phrases (the checks can fail)."""
    paths, _, _ = models
    rec = Recognizer(paths["int8"], RecognizerConfig(beam=4))
    shared = rec.grammar(GRAMMAR)
    looped = rec.grammar(GRAMMAR, repeat=True)
    picked, open_other = set(), 0
    for seed in range(8):
        samples = clip(seed)
        once = rec.transcribe(samples, 16000, grammar=GRAMMAR)
        assert _spells_phrases(once.result().text, GRAMMAR, repeat=False), once.result().text
        assert all(_spells_phrases(h.text, GRAMMAR, repeat=False) for h in once.nbest(4))
        assert rec.transcribe(samples, 16000, grammar=shared).result() == once.result()  # a shared grammar object
        loop = rec.transcribe(samples, 16000, grammar=looped)
        assert _spells_phrases(loop.result().text, GRAMMAR, repeat=True), loop.result().text
        assert all(_spells_phrases(h.text, GRAMMAR, repeat=True) for h in loop.nbest(4))
        for arc in loop.lattice().arcs:
            assert arc.word in {w for p in GRAMMAR for w in p.split()} | {""}  # "": no word (blanks)
        picked.add(once.result().text)
        open_other += not _spells_phrases(rec.transcribe(samples, 16000).result().text, GRAMMAR, repeat=True)
    assert picked - {""} and open_other > 0
    assert shared.num_phrases == 4 and shared.phrases == tuple(GRAMMAR) and not shared.repeat and looped.repeat


def test_a_grammar_that_requires_a_phrase_never_gives_nothing():
    """allow_empty=False: every finished result and N-best entry is a phrase, silence included, where the default
    grammar lets the empty transcript compete (and silence give nothing); with words the audio fits, both agree."""
    rec = Recognizer()
    samples, rate = load_audio(default_model_path().with_name("example.wav"))
    phrases = ["call mum", "play music", "stop"]
    optional, required = rec.grammar(phrases), rec.grammar(phrases, allow_empty=False)
    assert optional.allow_empty and not required.allow_empty and optional != required
    assert required.native.allow_empty is False and rec.grammar(phrases) == optional
    assert optional.is_sentence([]) and not required.is_sentence([]) and required.is_sentence(["stop"])
    spoken_optional = rec.transcribe(samples, rate, grammar=optional)
    spoken = rec.transcribe(samples, rate, grammar=required)
    assert "" in [h.text for h in spoken_optional.nbest(8)]
    assert spoken.result().text == spoken_optional.result().text and spoken.result().text in phrases
    assert all(h.text in phrases for h in spoken.nbest(8)) and len(spoken.nbest(8)) == 3
    silence = np.zeros(rate, np.float32)
    assert rec.transcribe(silence, rate, grammar=optional).result().text == ""
    assert rec.transcribe(silence, rate, grammar=required).result().text in phrases
    with pytest.raises(ValueError, match="allow_empty"):
        rec.grammar(phrases, allow_empty="no")


def test_cli_grammar_required(tmp_path, capsys):
    from edgeasr.cli import main

    grammar = tmp_path / "g.txt"
    grammar.write_text("call mum\nplay music\nstop\n")
    silence = tmp_path / "silence.wav"
    import soundfile as sf

    sf.write(silence, np.zeros(16000, np.float32), 16000)
    assert main(["transcribe", str(silence), "--grammar", str(grammar)]) == 0
    assert capsys.readouterr().out.strip() == ""
    assert main(["transcribe", str(silence), "--grammar", str(grammar), "--grammar-required"]) == 0
    assert capsys.readouterr().out.strip() in {"call mum", "play music", "stop"}
    assert main(["transcribe", str(silence), "--grammar-required"]) == 1
    assert "needs --grammar" in capsys.readouterr().err


def test_grammar_errors(models):
    paths, _, _ = models
    rec = Recognizer(paths["int8"])
    for bad, match in ((["light", ""], r"grammar\[1\]"), (["xylophone"], "cannot spell"), ([], "at least one"),
                       ("light", "one string"), ([3], r"grammar\[0\]")):
        with pytest.raises(ValueError, match=match):
            rec.create_stream(grammar=bad)
    with pytest.raises(ValueError, match="repeat"):
        rec.grammar(["light"], repeat="yes")
    greedy = Recognizer(paths["int8"], RecognizerConfig(decoding="greedy_search"))
    with pytest.raises(ValueError, match="grammar: needs decoding='modified_beam_search'"):
        greedy.transcribe(clip(0), 16000, grammar=["light"])
    with pytest.raises(ValueError, match="state"):
        rec.grammar(["light"]).native.next(99, 3)
    with pytest.raises(ValueError, match="other tokens"):  # token ids mean nothing in another model's table
        rec.create_stream(grammar=Recognizer().grammar(["light"]))
    with pytest.raises(ValueError, match="context: a graph built by a recognizer with other tokens"):
        rec.create_stream(context=Recognizer().context_graph(["light"]))
    rec.create_stream(context=Recognizer(paths["int8"]).context_graph(["light"]))  # same tokens: fine


def test_cli_transcribe_grammar(models, tmp_path, capsys):
    import soundfile as sf

    from edgeasr.cli import main

    paths, _, _ = models
    wav = tmp_path / "clip.wav"
    sf.write(wav, clip(4), 16000)
    grammar = tmp_path / "grammar.txt"
    grammar.write_text("# phrases\n" + "\n".join(GRAMMAR) + "\n\n")
    for extra, repeat in (([], False), (["--grammar-repeat"], True)):
        assert main(["transcribe", str(wav), "--model", str(paths["int8"]), "--grammar", str(grammar), *extra]) == 0
        assert _spells_phrases(capsys.readouterr().out.strip(), GRAMMAR, repeat)
    assert main(["transcribe", str(wav), "--model", str(paths["int8"]), "--grammar-repeat"]) == 1
    assert "needs --grammar" in capsys.readouterr().err
    assert main(["transcribe", str(wav), "--model", str(paths["int8"]), "--grammar", str(grammar), "--greedy"]) == 1
    assert "--greedy" in capsys.readouterr().err
    for option in ("--grammar", "--context"):  # a file that is not there: one line, no traceback
        assert main(["transcribe", str(wav), "--model", str(paths["int8"]), option, str(tmp_path / "none.txt")]) == 1
        assert "cannot read" in capsys.readouterr().err


def test_partial_results_skip_the_lattice_and_agree_with_it():
    """result() asks the search for the best path alone; nbest() and lattice() after it (or before it) get the full
    result of the same frames, and all three agree, mid-stream and at the end."""
    samples, rate = load_audio(default_model_path().with_name("example.wav"))
    rec = Recognizer()
    for order in ("result first", "lattice first"):
        stream = rec.create_stream(chunk_frames=4)
        for i in range(0, samples.size, 640):
            stream.accept_waveform(samples[i:i + 640], rate)
            if order == "lattice first":
                lattice = stream.lattice()
            partial = stream.result()
            nbest = stream.nbest(4)
            if order == "result first":
                lattice = stream.lattice()
            assert nbest[0].text == partial.text and nbest[0].score == pytest.approx(partial.score)
            assert " ".join(a.word for a in lattice.best_path() if a.word) == partial.text
        assert "lattice" in stream._result and "frame_signals" not in stream._result
        stream.input_finished()
        assert stream.result().text == "computer set a timer for ten minutes" and stream.result().final
    light = rec.create_stream()._search.result(False)
    assert set(light) == {"text", "tokens", "token_frames", "words", "score", "acoustic", "bias", "final"}
