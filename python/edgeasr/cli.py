"""The ``edgeasr`` command. Training subcommands import torch only when they run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional


def _train(args) -> int:
    from edgeasr.train.train import main as train_main

    return train_main(["--config", str(args.config)])


def _evaluate(args) -> int:
    from edgeasr.train.evaluate import evaluate_corpus, evaluate_fsdd
    from edgeasr.train.export import load_trained

    model, table = load_trained(args.checkpoint)
    report: dict = {"checkpoint": str(args.checkpoint)}
    if args.corpus:
        report["corpus"] = {"name": args.corpus, "split": args.split,
                            "wer": evaluate_corpus(model, table, args.corpus, args.split, args.limit)}
        for voice, r in report["corpus"]["wer"].items():
            print(f"{args.corpus}/{args.split} {voice:28s} WER {r['wer']:7.2%}  ({r['utterances']} utts, "
                  f"{r['words']} words)")
    if args.fsdd:
        report["fsdd"] = evaluate_fsdd(model, table, args.fsdd, args.limit)
        print(f"FSDD digit accuracy {report['fsdd']['accuracy']:.2%} over {report['fsdd']['clips']} clips; by "
              "speaker: " + ", ".join(f"{s} {a:.0%}" for s, a in report["fsdd"]["by_speaker"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def _corpus(args) -> int:
    from edgeasr.train.corpus import main as corpus_main

    corpus_main(args.rest)
    return 0


def _user_errors(run):
    """For commands whose ValueErrors are the user's (a bad file, a bad option): one line on stderr, exit 1."""
    def wrapped(args) -> int:
        try:
            return run(args)
        except ValueError as e:
            print(f"edgeasr {args.command}: error: {e}", file=sys.stderr)
            return 1
    return wrapped


def _info_lm(args) -> int:
    from edgeasr.model_file import load_model
    from edgeasr.ngram_lm import load_lm
    from edgeasr.recognizer import default_model_path

    lm = load_lm(args.model)
    d = {**lm.describe(), "for_the_bundled_model": lm.tokens == load_model(default_model_path()).tokens}
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    tokens = "the bundled model's" if d["for_the_bundled_model"] else "not the bundled model's"
    print(d["path"])
    print(f"n-gram LM     order {d['order']}, {d['ngrams']} n-grams, {d['states']} histories")
    print(f"vocabulary    {d['vocab_size']} tokens ({tokens})")
    print(f"size          {d['memory_bytes']} bytes held once loaded, file {d['file_bytes']} bytes")
    return 0


@_user_errors
def _info(args) -> int:
    from edgeasr.model_file import load_model
    from edgeasr.ngram_lm import is_lm_file

    if is_lm_file(args.model):
        return _info_lm(args)
    d = load_model(args.model).describe()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    a, f, t = d["architecture"], d["features"], d["totals"]
    print(f"{d['path']}" + (f"  ({d['source']})" if d["source"] else ""))
    print(f"architecture  {a['type']}: {a['num_layers']} LSTM layers, d_model {a['d_model']}, hidden {a['hidden']}, "
          f"decoder {a['decoder_dim']} (context {a['context_size']}), joiner {a['joiner_dim']}")
    print(f"features      {f['num_bins']} mel bins at {f['sample_rate']} Hz, frame {f['frame_length_ms']} ms, "
          f"shift {f['frame_shift_ms']} ms, subsampling {f['subsampling']} "
          f"(one encoder step per {f['frame_shift_ms'] * f['subsampling']:g} ms)")
    print(f"vocabulary    {d['vocab_size']} tokens (blank id {a['blank_id']})")
    width = max(len(r["name"]) for r in d["tensors"])
    print(f"\n{'tensor':{width}s}  {'format':9s}  {'shape':>13s}  {'nonzeros':>10s}  {'bytes':>10s}")
    for r in d["tensors"]:
        shape = " x ".join(str(n) for n in r["shape"])
        print(f"{r['name']:{width}s}  {r['format']:9s}  {shape:>13s}  {r['nonzeros']:>10d}  {r['bytes']:>10d}")
    print(f"\ntotal         {t['parameters']} parameters, {t['nonzeros']} nonzero "
          f"({t['nonzeros'] / t['parameters']:.1%}), {t['bytes']} bytes of weights, file {t['file_bytes']} bytes")
    return 0


def _read_lines(path: Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None


def read_context_file(path: Path) -> list[tuple[str, float]]:
    """Biasing phrases, one per line: ``phrase`` or ``phrase<TAB>weight``; blank lines and ``#`` comments skipped."""
    phrases = []
    for n, line in enumerate(_read_lines(path), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        text, _, weight = line.partition("\t")
        try:
            phrases.append((text.strip(), float(weight) if weight.strip() else 1.0))
        except ValueError:
            raise ValueError(f"{path}:{n}: weight {weight.strip()!r} is not a number") from None
    return phrases


def read_grammar_file(path: Path) -> list[str]:
    """Grammar phrases, one per line; blank lines and ``#`` comments skipped."""
    lines = (line.strip() for line in _read_lines(path))
    return [line for line in lines if line and not line.startswith("#")]


def lm_path(value: Optional[str]) -> Optional[Path]:
    """The file of an ``--lm [FILE]`` option (``nargs="?", const="default"``): the bundled LM when no file is named,
    None without the option."""
    if value is None:
        return None
    from edgeasr.recognizer import default_lm_path

    return default_lm_path() if value == "default" else Path(value)


def lm_of(args, config) -> Optional[Path]:
    """The n-gram LM file to fuse: --lm [FILE] (the bundled one when no file is named), none with --no-lm, else
    what ``Recognizer(lm="auto")`` takes (the bundled LM with the bundled model under beam search); --lm-scale set
    in config."""
    from edgeasr.recognizer import auto_lm

    greedy = getattr(args, "greedy", False)
    if args.no_lm and args.lm is not None:
        raise ValueError("--lm and --no-lm: give one of them")
    if args.lm is not None and greedy:
        raise ValueError("--lm: needs beam search, not --greedy")
    if args.no_lm:
        lm = None
    elif args.lm is not None:
        lm = lm_path(args.lm)
    else:
        lm = auto_lm(args.model, "greedy_search" if greedy else "modified_beam_search")
    if args.lm_scale is not None:
        if lm is None:
            raise ValueError("--lm-scale: no LM is fused (the bundled model has one; another model needs --lm FILE)")
        config.lm_scale = args.lm_scale
    return lm


def _add_lm_options(parser: argparse.ArgumentParser) -> None:
    """--lm [FILE], --no-lm and --lm-scale, which lm_of reads (transcribe and listen)."""
    parser.add_argument("--lm", nargs="?", const="default", default=None, metavar="FILE",
                        help="fuse an n-gram LM over the model's tokens into the beam search: the bundled one, or "
                             "FILE (compiled .safetensors or ARPA text over the token pieces), also with --grammar; "
                             "default: the bundled LM with the bundled model (not with --grammar), none with --model")
    parser.add_argument("--no-lm", action="store_true", help="no n-gram LM, not even the bundled model's")
    parser.add_argument("--lm-scale", type=float, default=None,
                        help="the LM's weight (default: edgeasr.recognizer.lm_search_defaults(--beam), which also "
                             "sets the token reward)")


def grammar_of(args, rec):
    """The recognizer's grammar from --grammar FILE [--grammar-repeat] [--grammar-required], or None."""
    for option in ("repeat", "required"):
        if getattr(args, f"grammar_{option}") and not args.grammar:
            raise ValueError(f"--grammar-{option}: needs --grammar")
    if not args.grammar:
        return None
    return rec.grammar(read_grammar_file(args.grammar), repeat=args.grammar_repeat,
                       allow_empty=not args.grammar_required)


def stream_lm(args) -> Optional[bool]:
    """The streams' ``lm``: an LM named with --lm is fused even into --grammar streams, which otherwise decode
    without the recognizer's LM (Recognizer.stream_uses_lm)."""
    return True if args.lm is not None else None


def lattice_paths(option: str, value: Optional[Path], audio: list[Path]) -> dict[Path, Path]:
    """Where ``--lattice-*`` writes each file's lattice: ``value`` itself for one audio file; for several,
    ``value``'s name with the audio file's stem inserted (``out.png`` -> ``out.clip1.png``)."""
    if value is None:
        return {}
    if len(audio) == 1:
        return {audio[0]: value}
    stems = [a.stem for a in audio]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise ValueError(f"{option}: several audio files are named {dup!r}, so their lattice files would collide; "
                         "transcribe them separately")
    return {a: value.with_name(f"{value.stem}.{a.stem}{value.suffix}") for a in audio}


def write_lattice(lattice, png: Optional[Path], json_path: Optional[Path], fst: Optional[Path]) -> None:
    """The --lattice-png/--lattice-json/--lattice-fst outputs of one file (the FST's words.txt goes beside it)."""
    try:
        if json_path:
            json_path.write_text(lattice.to_json(indent=1), encoding="utf-8")
        if fst:
            fst.write_text(lattice.to_openfst_text(), encoding="utf-8")
            fst.with_name(f"{fst.stem}.words.txt").write_text(lattice.openfst_symbols(), encoding="utf-8")
        if png:
            lattice.render(png)
    except OSError as e:
        raise ValueError(f"{e.filename}: cannot write the lattice ({e.strerror})") from None
    except RuntimeError as e:  # graphviz or dot missing: the user's installation, reported as such
        raise ValueError(f"--lattice-png: {e}") from None


@_user_errors
def _transcribe(args) -> int:
    from edgeasr.audio import load_audio
    from edgeasr.recognizer import DEFAULT_BEAM, Recognizer, RecognizerConfig

    lattice_outputs = [lattice_paths(f"--lattice-{kind}", getattr(args, f"lattice_{kind}"), args.audio)
                       for kind in ("png", "json", "fst")]
    if args.lattice_png and args.lattice_png.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"--lattice-png: expected a file name ending in .png, .svg or .pdf, got {args.lattice_png}")
    config = RecognizerConfig(decoding="greedy_search" if args.greedy else "modified_beam_search",
                              beam=DEFAULT_BEAM if args.beam is None else args.beam)
    if args.context_score is not None:
        config.context_score = args.context_score
    if args.blank_penalty is not None:
        config.blank_penalty = args.blank_penalty
    if args.token_reward is not None:
        config.token_reward = args.token_reward
    if args.tail_padding is not None:
        config.tail_padding_s = args.tail_padding
    if args.lead_padding is not None:
        config.lead_padding_s = args.lead_padding
    if args.grammar and args.greedy:
        raise ValueError("--grammar: needs beam search, not --greedy")
    rec = Recognizer(args.model, config, lm=lm_of(args, config))
    context = rec.context_graph(read_context_file(args.context)) if args.context else None
    grammar = grammar_of(args, rec)
    for path in args.audio:
        samples, rate = load_audio(path)  # ValueError naming the file when it cannot be read
        stream = rec.transcribe(samples, rate, context, grammar, lm=stream_lm(args))
        result = stream.result()
        if any(lattice_outputs):
            write_lattice(stream.lattice(), *(out.get(path) for out in lattice_outputs))
        if not args.json:
            print(result.text if len(args.audio) == 1 else f"{path}\t{result.text}")
            continue
        record = {"file": str(path), "text": result.text,
                  "words": [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
                             "confidence": round(w.confidence, 4)} for w in result.words],
                  "nbest": [{"text": h.text, "score": round(h.score, 4)} for h in stream.nbest(args.nbest)],
                  "duration": round(samples.size / rate, 3)}
        print(json.dumps(record))
    return 0


def _event_line(event) -> str:
    """One line per end-pointing event: stream time, kind, utterance, text."""
    from edgeasr.endpoint import FinalEndpoint, Reset, SpeculativeEndpoint

    if isinstance(event, SpeculativeEndpoint):
        kind, text = "speculative", event.result.text
    elif isinstance(event, FinalEndpoint):
        kind, text = ("final" if event.confirmed else "final-revised"), event.result.text
    elif isinstance(event, Reset):
        kind, text = "reset", ""
    else:
        raise ValueError(f"event: unknown kind {type(event).__name__}")
    return f"{event.time:8.2f}s  {kind:13s} #{event.utterance:<3d} {text}".rstrip()


def _event_json(event) -> str:
    record = {"kind": type(event).__name__, "utterance": event.utterance, "time": round(event.time, 3)}
    if hasattr(event, "result"):
        record.update(speech_end=round(event.speech_end, 3), text=event.result.text)
    if hasattr(event, "confirmed"):
        record["confirmed"] = event.confirmed
    return json.dumps(record)


def _outcome_line(outcome) -> str:
    """The cloud's answer to an event, indented under it."""
    how = outcome.source if outcome.error is None else f"{outcome.source}: {outcome.error}"
    return f"{'':8s}-> {outcome.event:13s} #{outcome.utterance:<3d} {outcome.text}  ({how}, " \
           f"{1000 * outcome.elapsed_s:.0f} ms)"


def _outcome_json(outcome) -> str:
    return json.dumps({"kind": "CloudOutcome", "utterance": outcome.utterance, "event": outcome.event,
                       "text": outcome.text, "source": outcome.source, "error": outcome.error,
                       "elapsed_s": round(outcome.elapsed_s, 4)})


def _microphone_chunks(rate: int, chunk: int, device):
    """Blocks of float32 mono samples from the default (or given) input device until Ctrl-C."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as e:  # OSError: the module is there but the PortAudio library is not
        raise ValueError(f"the microphone needs the sounddevice package and PortAudio (pip install 'edgeasr[listen]'; "
                         f"Debian: apt-get install libportaudio2), or use --file AUDIO ({e})") from None
    try:
        sd.check_input_settings(device=device, channels=1, dtype="float32", samplerate=rate)
    except Exception as e:  # sounddevice raises PortAudioError or ValueError when there is no usable input device
        raise ValueError(f"no usable input device ({e}); list them with python -m sounddevice, or use --file AUDIO") \
            from None
    with sd.InputStream(samplerate=rate, channels=1, dtype="float32", blocksize=chunk, device=device) as mic:
        print(f"listening on {mic.device} at {rate} Hz; Ctrl-C ends", file=sys.stderr, flush=True)
        try:
            while True:
                data, _ = mic.read(chunk)
                yield data[:, 0].copy()
        except KeyboardInterrupt:
            return


def _file_chunks(path: Path, chunk_s: float, realtime: bool):
    import time

    from edgeasr.audio import load_audio

    samples, rate = load_audio(path)
    n = max(1, int(round(chunk_s * rate)))
    start = time.monotonic()
    for i in range(0, samples.size, n):
        if realtime:  # as a microphone would deliver it: a chunk once its last sample has been "spoken"
            time.sleep(max(0.0, start + (i + n) / rate - time.monotonic()))
        yield samples[i:i + n]


@_user_errors
def _listen(args) -> int:
    import concurrent.futures
    import dataclasses
    import threading

    from edgeasr.endpoint import EndpointingStream, SpeculativeEndpoint, search_defaults
    from edgeasr.recognizer import DEFAULT_BEAM, Recognizer, RecognizerConfig

    if not args.chunk_ms > 0:
        raise ValueError(f"--chunk-ms: expected > 0, got {args.chunk_ms}")
    # the decoding chunk is the end-pointing stream's (--chunk-frames)
    config = RecognizerConfig(beam=DEFAULT_BEAM if args.beam is None else args.beam)
    rec = Recognizer(args.model, config, lm=lm_of(args, config))
    context = rec.context_graph(read_context_file(args.context)) if args.context else None
    grammar = grammar_of(args, rec)
    show = _event_json if args.json else _event_line
    client = None
    if args.cloud is not None:
        from edgeasr.cloud.client import CloudClient

        client = CloudClient(args.cloud, timeout=args.cloud_timeout)   # ValueError on a malformed URL or timeout

    # The speculative lattice goes out on the client's background thread, so decoding (and the microphone) does not
    # wait for the round trip; its answer is printed when it comes, and at the latest before the next event of the
    # stream, so every answer follows its own event.
    lock = threading.Lock()
    pending: list = []   # the speculative request in flight, if any

    def show_outcome(future) -> None:
        with lock:
            if future in pending:
                pending.remove(future)
                outcome = future.result()
                print(_outcome_json(outcome) if args.json else _outcome_line(outcome), flush=True)

    def on_event(event) -> None:
        for future in list(pending):
            concurrent.futures.wait([future])   # bounded by the client's timeout
            show_outcome(future)
        with lock:
            print(show(event), flush=True)
        if client is None:
            return
        if isinstance(event, SpeculativeEndpoint):
            future = client.speculative_async(event)
            with lock:
                pending.append(future)
            future.add_done_callback(show_outcome)
        else:  # what the service made of it, or the device's own text when it failed us
            outcome = client.handle(event)
            with lock:
                print(_outcome_json(outcome) if args.json else _outcome_line(outcome), flush=True)

    final = dataclasses.replace(search_defaults(rec, grammar, stream_lm(args))[1],
                                gap_factor=args.gap_factor)  # checked by the stream
    stream = EndpointingStream(rec, context=context, final=final, on_event=on_event, reset_encoder=args.reset_encoder,
                               grammar=grammar, chunk_frames=args.chunk_frames, lm=stream_lm(args),
                               **({} if args.idle_reset_s is None else {"idle_reset_s": args.idle_reset_s or None}))
    if args.file is not None:
        from edgeasr.audio import load_audio

        rate = load_audio(args.file)[1]  # ValueError naming the file when it cannot be read
        chunks = _file_chunks(args.file, args.chunk_ms / 1000.0, args.realtime)
    else:
        rate = rec.sample_rate
        device = int(args.device) if args.device is not None and args.device.isdigit() else args.device
        chunks = _microphone_chunks(rate, int(round(args.chunk_ms / 1000.0 * rate)), device)
    try:
        for chunk in chunks:
            stream.accept_waveform(chunk, rate)
        stream.input_finished()
    finally:
        if client is not None:
            client.close()
    return 0


@_user_errors
def _export(args) -> int:
    from edgeasr.train.export import export_model

    out = export_model(args.checkpoint, args.out, weights=args.weights, sparsity=args.sparsity,
                       bpe_model=args.bpe_model)
    print(f"wrote {out}")
    return 0


@_user_errors
def _checkpoint(args) -> int:
    from edgeasr.recognizer import default_model_path
    from edgeasr.train.export import checkpoint_from_model

    out = checkpoint_from_model(args.model or default_model_path(), args.out)
    print(f"wrote {out} (and bpe.model beside it)")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="edgeasr", description="On-device speech recognition: transcription, model "
                                                             "files and training tools.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("transcribe", help="transcribe audio files with a model (default: the bundled one)")
    r.add_argument("audio", nargs="+", type=Path, help="audio files (WAV, FLAC, ...; any sample rate, mono)")
    r.add_argument("--model", type=Path, default=None, help="model file (default: the bundled student, int4)")
    r.add_argument("--context", type=Path, default=None,
                   help="biasing phrases, one per line (phrase, or phrase<TAB>weight): contacts, device names")
    r.add_argument("--context-score", type=float, default=None,
                   help="biasing bonus per matched token (default: the search's, "
                        "edgeasr.recognizer.context_score_default: 1.0 at beam 16, 0.5 at beam 4 and greedy)")
    r.add_argument("--blank-penalty", type=float, default=None,
                   help="lowers the blank's logit before the softmax, as sherpa-onnx's blank_penalty (default: the "
                        "search's, edgeasr.recognizer.SEARCH_DEFAULTS: 0 beam, 1.5 greedy)")
    r.add_argument("--token-reward", type=float, default=None,
                   help="beam search: added to the score of every token emitted (default: the search's, "
                        "edgeasr.recognizer.SEARCH_DEFAULTS)")
    r.add_argument("--tail-padding", type=float, default=None, metavar="SECONDS",
                   help="silence decoded after each file so its last word is emitted (default: "
                        "RecognizerConfig.tail_padding_s, 0.1)")
    r.add_argument("--lead-padding", type=float, default=None, metavar="SECONDS",
                   help="start each file from the encoder state this much silence leaves, for clips cut at the "
                        "speech onset (default: RecognizerConfig.lead_padding_s, 0)")
    r.add_argument("--grammar", type=Path, default=None,
                   help="the only phrases that may be transcribed, one per line (command and control: digits, "
                        "yes/no, menu items); the transcript is one of them or empty. Decoded without the n-gram LM "
                        "unless --lm is given")
    r.add_argument("--grammar-required", action="store_true",
                   help="with --grammar: the transcript is always one of the phrases, never empty (every file "
                        "says one; silence gives the likeliest)")
    r.add_argument("--grammar-repeat", action="store_true",
                   help="with --grammar: any sequence of its phrases (digit strings)")
    _add_lm_options(r)
    r.add_argument("--beam", type=int, default=None,
                   help="modified beam search width (default 16, edgeasr.recognizer.DEFAULT_BEAM)")
    r.add_argument("--greedy", action="store_true", help="greedy search instead of beam search")
    r.add_argument("--nbest", type=int, default=4, help="hypotheses in --json output (default 4)")
    r.add_argument("--json", action="store_true",
                   help="one JSON object per file: text, words (word, start, end, confidence), nbest (text, score)")
    r.add_argument("--lattice-png", type=Path, default=None,
                   help="draw each file's word lattice (best path in red) to this .png/.svg/.pdf (needs the lattice "
                        "extra and Graphviz); with several files, out.png becomes out.<audio name>.png")
    r.add_argument("--lattice-json", type=Path, default=None, help="write each file's lattice as JSON (same naming)")
    r.add_argument("--lattice-fst", type=Path, default=None,
                   help="write each file's lattice in OpenFST text format, with <name>.words.txt beside it")
    r.set_defaults(run=_transcribe)
    t = sub.add_parser("train", help="train an RNN-T (needs the train extra)")
    t.add_argument("--config", required=True, type=Path)
    t.set_defaults(run=_train)
    e = sub.add_parser("evaluate", help="WER per voice on a corpus split, digit accuracy on FSDD")
    e.add_argument("--checkpoint", required=True, type=Path)
    e.add_argument("--corpus", help="built corpus name, e.g. v1")
    e.add_argument("--split", default="test")
    e.add_argument("--fsdd", type=Path, help="folder of FSDD .wav files, e.g. ../shared/data/fsdd")
    e.add_argument("--limit", type=int, default=0, help="evaluate at most this many utterances (0: all)")
    e.add_argument("--json", help="also write the report here")
    e.set_defaults(run=_evaluate)
    i = sub.add_parser("info", help="what a model file holds: architecture, features, tensors, sizes (or an n-gram LM "
                                    "file: order, n-grams, sizes)")
    i.add_argument("model", type=Path, help="model file, or n-gram LM file")
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(run=_info)
    x = sub.add_parser("export", help="a training checkpoint (or fp16 export) to a model file (needs the train extra)")
    x.add_argument("checkpoint", type=Path, help="training checkpoint (.pt) or edgeasr.train.export file")
    x.add_argument("out", type=Path, help="model file to write")
    x.add_argument("--weights", choices=["int8", "int4", "float32"], default="int8",
                   help="storage of the matrices (default int8)")
    x.add_argument("--sparsity", type=float, default=0.0,
                   help="fraction of each matrix's smallest weights to drop; > 0 stores them sparse (default 0)")
    x.add_argument("--bpe-model", type=Path, default=None,
                   help="sentencepiece model whose piece scores go into the token table, when the checkpoint lacks "
                        "them (default: bpe.model beside the checkpoint)")
    x.set_defaults(run=_export)
    ck = sub.add_parser("checkpoint", help="a training checkpoint from a model file, to fine-tune or benchmark the "
                                           "weights it ships (needs the train extra)")
    ck.add_argument("out", type=Path, help="checkpoint to write (.pt); bpe.model is written beside it")
    ck.add_argument("--model", type=Path, default=None, help="model file (default: the bundled one)")
    ck.set_defaults(run=_checkpoint)
    li = sub.add_parser("listen", help="speech in, end-pointing events out: a microphone (listen extra) or a file")
    li.add_argument("--file", type=Path, default=None, help="stream this audio file instead of the microphone")
    li.add_argument("--realtime", action="store_true", help="with --file: feed chunks at the pace of real time")
    li.add_argument("--chunk-ms", type=float, default=40.0,
                    help="audio per chunk fed to the stream, a microphone block (default 40, as the end-pointers "
                         "were tuned)")
    li.add_argument("--chunk-frames", type=int, default=4,
                    help="encoder chunk in 10 ms feature frames (default 4: end-points are seen sooner)")
    li.add_argument("--model", type=Path, default=None, help="model file (default: the bundled student, int4)")
    li.add_argument("--context", type=Path, default=None, help="biasing phrases, one per line (as for transcribe)")
    li.add_argument("--grammar", type=Path, default=None,
                    help="the only phrases each utterance may be, one per line (as for transcribe; without the "
                         "n-gram LM unless --lm is given)")
    li.add_argument("--grammar-repeat", action="store_true", help="with --grammar: any sequence of its phrases")
    li.add_argument("--grammar-required", action="store_true",
                    help="with --grammar: every utterance is one of the phrases, never empty")
    _add_lm_options(li)
    li.add_argument("--device", default=None, help="input device (number or name; default: the system's)")
    li.add_argument("--json", action="store_true", help="one JSON object per event")
    li.add_argument("--beam", type=int, default=None,
                    help="modified beam search width (default 16, edgeasr.recognizer.DEFAULT_BEAM, the width the "
                         "rescoring service's weights were tuned for)")
    li.add_argument("--cloud", default=None, metavar="URL",
                    help="send each event's lattice to a rescoring service (python -m edgeasr.cloud.service) and "
                         "print its answer, or the device's own when it is unreachable")
    li.add_argument("--cloud-timeout", type=float, default=0.5,
                    help="seconds the service gets per event before the device's result stands (default 0.5)")
    li.add_argument("--gap-factor", type=float, default=0.0,
                    help="the final end-pointer waits longer than this x the utterance's longest gap so far "
                         "(EndpointConfig.gap_factor; default 0: off; 2 took held-out cut-offs from 3.6 to 1.2 %% "
                         "for 57 ms more median latency)")
    li.add_argument("--reset-encoder", action=argparse.BooleanOptionalAction, default=True,
                    help="start the encoder state afresh after each utterance (default), as the models trained on "
                         "single requests need; --no-reset-encoder carries it over (a model trained on runs of "
                         "requests)")
    li.add_argument("--idle-reset-s", type=float, default=None, metavar="SECONDS",
                    help="with the reset, also start the encoder afresh after this much background without speech "
                         "(default: EndpointingStream's, edgeasr.endpoint.stream.IDLE_RESET_S, 2 s; 0: off)")
    li.set_defaults(run=_listen)
    c = sub.add_parser("corpus", help="build a synthesized corpus (python -m edgeasr.train.corpus --help)")
    c.add_argument("rest", nargs=argparse.REMAINDER)
    c.set_defaults(run=_corpus)
    args = p.parse_args(argv)
    try:
        status = args.run(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader went away (`edgeasr info model | head`): not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
