"""The RNN-T: a streaming encoder, a stateless prediction network and a joiner.

    features [N, T, 80] ─▶ Encoder ─▶ enc [N, T/4, d_model] ─┐
                                                              ├▶ Joiner ─▶ logits [N, T/4, U+1, vocab]
    last context_size tokens [N, U+1, K] ─▶ Decoder ─▶ dec ──┘

Token id 0 (``BLANK``) is the blank: the joiner's "no token on this frame" output, and the padding of the decoder's
context (the context before the first token is all blanks).

Every piece is causal and per-frame except the LSTMs, whose state (h, c) carries across chunks, so running the
encoder chunk by chunk over a whole utterance gives the same output as one call, provided each chunk is a multiple of
``stack`` frames (a ragged tail is dropped, as ``lengths // stack`` says). The state layout is the one sherpa-onnx
uses for its streaming LSTM transducers: h [num_layers, N, d_model], c [num_layers, N, hidden].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from edgeasr.train.loss import rnnt_loss, rnnt_loss_from_parts

__all__ = [
    "BLANK", "ModelConfig", "Encoder", "Decoder", "Joiner", "Transducer", "make_context",
    "student_config", "teacher_config",
]

BLANK = 0

States = tuple[Tensor, Tensor]


@dataclass
class ModelConfig:
    num_features: int = 80      # fbank bins per input frame
    stack: int = 4              # frames concatenated into one encoder step: the time reduction
    d_model: int = 256          # LSTM projection size: each encoder layer's output and the h state
    hidden: int = 640           # LSTM cell size: the c state
    num_layers: int = 3
    decoder_dim: int = 256
    context_size: int = 2       # the stateless prediction network sees the last 2 tokens
    joiner_dim: int = 256
    vocab_size: int = 256       # id 0 is the blank
    dropout: float = 0.1
    ctc_weight: float = 0.0     # > 0 adds a CTC head on the encoder, trained alongside (unused in decoding)

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot build a model."""
        for name in ("num_features", "stack", "d_model", "hidden", "num_layers", "decoder_dim", "context_size",
                     "joiner_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ModelConfig.{name} must be a positive int, got {value!r}")
        if self.d_model >= self.hidden:
            raise ValueError(f"ModelConfig.d_model ({self.d_model}) must be below hidden ({self.hidden}): "
                             "an LSTM projection must be smaller than its cell")
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ValueError(f"ModelConfig.vocab_size must be an int >= 2 (blank + a token), got {self.vocab_size!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 <= self.ctc_weight:
            raise ValueError(f"ModelConfig.ctc_weight must be >= 0, got {self.ctc_weight!r}")


def student_config(vocab_size: int = 256) -> ModelConfig:
    """The on-device model: 2.24 M parameters at vocab 256."""
    return ModelConfig(d_model=192, hidden=384, num_layers=3, decoder_dim=192, joiner_dim=192,
                       vocab_size=vocab_size)


def teacher_config(vocab_size: int = 256) -> ModelConfig:
    """The teacher for distillation: about 10x the student (23.1 M parameters at vocab 256)."""
    return ModelConfig(d_model=512, hidden=960, num_layers=5, decoder_dim=512, joiner_dim=512,
                       vocab_size=vocab_size)


class Encoder(nn.Module):
    """Stack ``stack`` frames, Linear + LayerNorm to d_model, then residual projected-LSTM layers."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.stack = cfg.stack
        self.num_features = cfg.num_features
        self.d_model = cfg.d_model
        self.hidden = cfg.hidden
        # Global feature normalization (per mel bin), set from training data before training starts; export folds
        # it into input_proj, so the runtime never sees it. Unnormalized log-mels (mean about -7, std about 3)
        # bury the frame-to-frame variation under a constant offset and slow learning down.
        self.register_buffer("feature_mean", torch.zeros(cfg.num_features))
        self.register_buffer("feature_std", torch.ones(cfg.num_features))
        self.input_proj = nn.Linear(cfg.num_features * cfg.stack, cfg.d_model)
        self.input_norm = nn.LayerNorm(cfg.d_model)
        # One module per layer, so that each layer's input can be added to its output.
        self.layers = nn.ModuleList(
            nn.LSTM(cfg.d_model, cfg.hidden, proj_size=cfg.d_model, batch_first=True) for _ in range(cfg.num_layers)
        )
        self.dropout = nn.Dropout(cfg.dropout)

    def set_normalization(self, mean: Tensor, std: Tensor) -> None:
        """Per-bin mean and standard deviation of the training features; std is floored at 1e-3."""
        if mean.shape != (self.num_features,) or std.shape != (self.num_features,):
            raise ValueError(f"mean and std must have shape [{self.num_features}], got {tuple(mean.shape)}, "
                             f"{tuple(std.shape)}")
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp(min=1e-3))

    def init_states(self, batch_size: int, device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> States:
        """Zero states: h [num_layers, N, d_model], c [num_layers, N, hidden]."""
        ref = self.input_proj.weight
        kw = dict(device=device or ref.device, dtype=dtype or ref.dtype)
        n_layers = len(self.layers)
        return (torch.zeros(n_layers, batch_size, self.d_model, **kw),
                torch.zeros(n_layers, batch_size, self.hidden, **kw))

    def forward(self, features: Tensor, lengths: Tensor, states: States | None = None) -> tuple[Tensor, Tensor, States]:
        """features [N, T, num_features], lengths [N] -> (enc [N, T // stack, d_model], lengths // stack, states).

        ``states`` are those returned by the previous chunk (zeros when None); the returned states are each item's
        state after its own last valid step, so a batch of streams with ragged chunks carries on correctly.
        """
        if features.ndim != 3 or features.shape[-1] != self.num_features:
            raise ValueError(f"features must be [N, T, {self.num_features}], got {tuple(features.shape)}")
        n, t_in, _ = features.shape
        if lengths.shape != (n,) or lengths.is_floating_point():
            raise ValueError(f"lengths must be an integer tensor of shape [{n}], got {lengths.dtype} "
                             f"{tuple(lengths.shape)}")
        if n and (int(lengths.min()) < 0 or int(lengths.max()) > t_in):
            raise ValueError(f"lengths must lie in [0, {t_in}] (the features' T), got {lengths.tolist()}")
        if states is None:
            states = self.init_states(n, features.device, features.dtype)
        h0, c0 = states
        n_layers = len(self.layers)
        if h0.shape != (n_layers, n, self.d_model) or c0.shape != (n_layers, n, self.hidden):
            raise ValueError(f"states must be h [{n_layers}, {n}, {self.d_model}] and c [{n_layers}, {n}, "
                             f"{self.hidden}], got {tuple(h0.shape)} and {tuple(c0.shape)}")

        t_out = t_in // self.stack
        features = (features - self.feature_mean) / self.feature_std
        x = features[:, : t_out * self.stack].reshape(n, t_out, self.stack * self.num_features)
        x = self.input_norm(self.input_proj(x))
        out_lengths = torch.div(lengths, self.stack, rounding_mode="floor")

        # Pack only when the items differ in length, so that each state is taken at its item's last step.
        lengths_cpu = out_lengths.cpu()
        ragged = t_out > 0 and bool((lengths_cpu != t_out).any())
        empty = (out_lengths == 0).view(1, -1, 1)
        hs, cs = [], []
        for i, lstm in enumerate(self.layers):
            state = (h0[i:i + 1].contiguous(), c0[i:i + 1].contiguous())
            if t_out == 0:
                y, (h, c) = x, state
            elif ragged:
                packed = pack_padded_sequence(x, lengths_cpu.clamp(min=1), batch_first=True, enforce_sorted=False)
                y, (h, c) = lstm(packed, state)
                y, _ = pad_packed_sequence(y, batch_first=True, total_length=t_out)
                # An item with no step this chunk keeps its state.
                h, c = torch.where(empty, state[0], h), torch.where(empty, state[1], c)
            else:
                y, (h, c) = lstm(x, state)
            if t_out > 0:
                x = x + self.dropout(y)
            hs.append(h)
            cs.append(c)
        return x, out_lengths, (torch.cat(hs, 0), torch.cat(cs, 0))


def make_context(targets: Tensor, target_lengths: Tensor, context_size: int, blank: int = BLANK) -> Tensor:
    """Decoder inputs for teacher forcing: [N, U] padded targets -> [N, U+1, context_size].

    Row u holds the ``context_size`` tokens before position u, oldest first, with blanks before the first token;
    targets beyond ``target_lengths`` count as blanks.
    """
    n, u = targets.shape
    pad = torch.arange(u, device=targets.device).view(1, -1) >= target_lengths.view(-1, 1)
    seq = torch.cat([targets.new_full((n, context_size), blank), targets.masked_fill(pad, blank)], 1)
    return seq.unfold(1, context_size, 1)


class Decoder(nn.Module):
    """Stateless prediction network: embed the last ``context_size`` tokens, mix them per channel, ReLU.

    The mix is a depthwise Conv1d whose kernel spans the whole context (weight [decoder_dim, 1, context_size], the
    last tap on the most recent token), so a decoder step is a few table look-ups and one multiply-add per channel.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.context_size = cfg.context_size
        self.vocab_size = cfg.vocab_size
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.decoder_dim)
        self.conv = nn.Conv1d(cfg.decoder_dim, cfg.decoder_dim, cfg.context_size, groups=cfg.decoder_dim)

    def forward(self, context: Tensor) -> Tensor:
        """context [N, U, context_size] token ids (blank = start/padding) -> [N, U, decoder_dim]."""
        if context.ndim != 3 or context.shape[-1] != self.context_size:
            raise ValueError(f"context must be [N, U, {self.context_size}], got {tuple(context.shape)}")
        n, u, k = context.shape
        emb = self.embedding(context)                            # [N, U, K, D]
        x = emb.reshape(n * u, k, -1).transpose(1, 2)            # [N*U, D, K]
        return torch.relu(self.conv(x)).view(n, u, -1)          # the kernel covers K: one output step


class Joiner(nn.Module):
    """logits = output(tanh(enc_proj(enc) + dec_proj(dec))), broadcasting enc and dec against each other."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.enc_proj = nn.Linear(cfg.d_model, cfg.joiner_dim)
        self.dec_proj = nn.Linear(cfg.decoder_dim, cfg.joiner_dim)
        self.output = nn.Linear(cfg.joiner_dim, cfg.vocab_size)

    def forward(self, enc: Tensor, dec: Tensor) -> Tensor:
        """enc [..., d_model], dec [..., decoder_dim] (broadcastable) -> logits [..., vocab_size].

        Both are projected before they are broadcast: for enc [N, T, 1, E] and dec [N, 1, U+1, D] the projections
        cost T + U + 1 rows, not T * (U + 1).
        """
        return self.joint(self.enc_proj(enc), self.dec_proj(dec))

    def joint(self, enc_projected: Tensor, dec_projected: Tensor) -> Tensor:
        """The joiner after the projections, for search code that projects each frame and context once."""
        return self.output(torch.tanh(enc_projected + dec_projected))


class Transducer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.joiner = Joiner(cfg)
        # An auxiliary CTC head makes the encoder align audio with tokens from the start: without it, a transducer
        # with a strong prediction network can settle for a while on emitting its language model's guess at the
        # first frames and ignoring the audio.
        self.ctc_head = nn.Linear(cfg.d_model, cfg.vocab_size) if cfg.ctc_weight > 0 else None

    def forward(self, features: Tensor, feature_lengths: Tensor, targets: Tensor, target_lengths: Tensor,
                reduction: str = "mean", chunk_frames: int | None = None) -> Tensor:
        """RNN-T loss of a padded batch: features [N, T, num_features], targets [N, U] (padding: any value).

        ``reduction`` as in ``loss.rnnt_loss`` ("mean" is over the batch). ``chunk_frames`` runs the joiner that
        many encoder frames at a time (``loss.rnnt_loss_from_parts``): the same loss and gradients in far less
        memory, for about one extra joiner forward.
        """
        enc, enc_lengths, _ = self.encoder(features, feature_lengths)
        dec = self.decoder(make_context(targets, target_lengths, self.cfg.context_size))
        if chunk_frames is not None:
            loss = rnnt_loss_from_parts(self.joiner, enc, dec, targets, enc_lengths, target_lengths,
                                        blank=BLANK, reduction=reduction, chunk_frames=chunk_frames)
        else:
            logits = self.joiner(enc.unsqueeze(2), dec.unsqueeze(1))
            loss = rnnt_loss(logits, targets, enc_lengths, target_lengths, blank=BLANK, reduction=reduction)
        if self.ctc_head is None:
            return loss
        return loss + self.cfg.ctc_weight * self._ctc_loss(enc, enc_lengths, targets, target_lengths, reduction)

    def _ctc_loss(self, enc: Tensor, enc_lengths: Tensor, targets: Tensor, target_lengths: Tensor,
                  reduction: str) -> Tensor:
        """CTC loss per utterance (summed over its tokens, like the transducer loss), reduced the same way."""
        log_probs = self.ctc_head(enc).log_softmax(-1).transpose(0, 1)  # [T, N, V]
        per_utt = nn.functional.ctc_loss(log_probs, targets.clamp(min=0), enc_lengths, target_lengths, blank=BLANK,
                                         reduction="none", zero_infinity=True)
        return {"mean": per_utt.mean(), "sum": per_utt.sum(), "none": per_utt}[reduction]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
