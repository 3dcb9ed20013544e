"""Cloud rescoring: the part of a request that leaves the device is a word lattice, never audio.

- ``client`` (device side, standard library only): :class:`~edgeasr.cloud.client.CloudClient` turns end-pointing
  events into rescored transcripts, falling back to the device's own hypothesis.
- ``rescore`` (no torch): k-best expansion of a lattice, ``acoustic + bias + λ·lm + γ·words``, tuning of λ and γ.
- ``lm``, ``train_lm`` (torch, server side): the LSTM LM over BPE tokens and its training.
- ``service`` (FastAPI, server side): the end-pointing protocol over HTTP.

Nothing is imported here, so ``import edgeasr.cloud.client`` stays light on the device.
"""
