"""Helpers for the cloud tests: a tiny LM trained here in seconds (never the one in ~/.cache), hand-built lattices,
the service on loopback.

No conftest.py here: the top-level tests import their own ``conftest`` by name, and a second one would shadow it.
Test modules wrap what they need in fixtures.
"""

from __future__ import annotations

import functools
import socket
import tempfile
import threading
import time

from edgeasr.lattice import Arc, Lattice, Node

_WORK = tempfile.TemporaryDirectory(prefix="edgeasr-cloud-tests-")  # removed when the test process ends


@functools.lru_cache(maxsize=None)
def token_table():
    from edgeasr.cloud.train_lm import token_table

    return token_table("default")


@functools.lru_cache(maxsize=None)
def tiny_training():
    """(lm, config, train text, dev text): a 1x64 LSTM trained for 3 epochs over 3,000 train-split requests; trained
    once per test process."""
    from edgeasr.cloud.train_lm import config_from_dict, train_lm, training_text

    cfg = config_from_dict({
        "model": {"embed_dim": 32, "hidden": 64, "layers": 1, "dropout": 0.0},
        "data": {"seeds": [0], "sentences_per_seed": 3000, "dev_sentences": 300},
        "optim": {"lr": 1e-2, "warmup_steps": 10, "epochs": 3, "batch_tokens": 1500},
        "run": {"out_dir": f"{_WORK.name}/tiny_lm", "log_every": 1000, "checkpoint_every": 1000},
    })
    train_text, dev_text = training_text(cfg.data)
    lm, _ = train_lm(cfg, train_text, dev_text, token_table(), log=lambda msg: None)
    return lm, cfg, train_text, dev_text


def sausage(slots: list[list[tuple[str, float]]], frame_shift: float = 0.04, bias: float = 0.0) -> Lattice:
    """A lattice of consecutive slots, each a choice of (word, acoustic score); every word spans 5 frames."""
    nodes = [Node(i, i * 5 * frame_shift) for i in range(len(slots) + 1)]
    arcs = [Arc(i, i + 1, word, i * 5 * frame_shift, (i + 1) * 5 * frame_shift, score, bias, 0.0)
            for i, choices in enumerate(slots) for word, score in choices]
    from edgeasr.lattice.prune import with_posteriors

    return with_posteriors(Lattice(nodes, arcs, 0, [len(slots)], frame_shift))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackService:
    """uvicorn serving ``app`` in a thread on a free loopback port."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                   lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LoopbackService":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
