"""Data synthesis, tokens, the RNN-T model, its loss and training: everything that needs the ``train`` extra.

Modules (one concept each):
    paths    where caches and corpora live (outside git)
    text     the voice-assistant request generator (domain text, contact names, splits)
    tokens   sentencepiece BPE training; the token table itself lives in edgeasr.tokens (no sentencepiece)
    voices   the Debian TTS voices and which are held out
    synth    rendering one request with one voice, and the augmentations
    corpus   building a corpus in parallel with a cache, and its lhotse manifests
    model    the RNN-T (stacked-frame front end, projected LSTM encoder, stateless decoder, joiner)
    loss     the RNN-T loss
    train    the training loop (checkpoints, SpecAugment, torch.distributed)
    evaluate greedy decoding and WER per voice, FSDD digit accuracy

Inference (``import edgeasr``) never imports this package.
"""
