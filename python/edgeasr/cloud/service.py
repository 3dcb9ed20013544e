"""The reference rescoring service (FastAPI; server side): the end-pointing protocol over HTTP.

Per stream and utterance (ids chosen by the device):

- ``POST /v1/streams/{stream}/utterances/{utterance}/speculative`` with the speculative lattice (wire bytes,
  ``application/octet-stream``): rescoring starts at once and the reply is the reranked N-best. The result is kept
  for the final event.
- ``POST .../final?confirmed=true`` with an empty body: the speculative lattice stands, so its result is reused (if
  it is still being computed, the reply waits for it). 409 when the service holds no speculative result for that
  utterance (never sent, or the service restarted): the device then sends the lattice as a revision.
- ``POST .../final?confirmed=false`` with the revised lattice: the speculative work is discarded and the revision
  rescored. ``POST .../reset`` discards an utterance's speculative work on its own (idempotent).
- ``GET /health``: the LM and the weights in use.

Replies are JSON: ``{"stream", "utterance", "event", "reused", "text", "nbest": [{"text", "words", "score",
"acoustic", "bias", "lm", "device_lm", "device_rank"}], "device_text", "lm_weight", "word_bonus", "device_lm_weight",
"rescore_ms"}``. Bad input is a
4xx with ``{"detail": message}``: 400 malformed lattice bytes, 409 as above, 413 a body over ``max_body_bytes``,
415 another content type, 422 bad path or query values.

    python -m edgeasr.cloud.service --lm ~/.cache/edgeasr/cloud_lm_large/lm.pt --port 8080

Weights that take the device's n-gram LM share out of the lattice's scores (``device_lm_weight``,
:mod:`edgeasr.cloud.rescore`) make the service load that LM: ``--device-lm FILE``, else the bundled one.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.responses import JSONResponse

from edgeasr.cloud.rescore import Rescorer
from edgeasr.lattice import Lattice, LatticeError

__all__ = ["create_app", "main", "MAX_BODY_BYTES", "MAX_UTTERANCES"]

MAX_BODY_BYTES = 1 << 20     # a wire lattice is a few kilobytes; this bounds what one request may make us read
MAX_UTTERANCES = 10000       # speculative results kept at once (oldest dropped first)
_ID = r"^[A-Za-z0-9_.\-]{1,128}$"


class _Pending:
    """One utterance's speculative rescoring: the lattice's device text and the task computing its N-best."""

    def __init__(self, task: "asyncio.Task", device_text: str):
        self.task = task
        self.device_text = device_text


def create_app(rescorer: Rescorer, max_body_bytes: int = MAX_BODY_BYTES,
               max_utterances: int = MAX_UTTERANCES) -> FastAPI:
    """The service over ``rescorer`` (anything with ``rescore(lattice) -> list[Candidate]`` and ``weights``)."""
    app = FastAPI(title="edgeasr cloud rescoring", version="1")
    pending: "collections.OrderedDict[tuple[str, int], _Pending]" = collections.OrderedDict()
    app.state.pending = pending  # visible to tests

    async def read_lattice(request: Request) -> Lattice:
        ctype = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
        if ctype != "application/octet-stream":
            raise HTTPException(415, f"content-type: expected application/octet-stream (wire lattice bytes), "
                                     f"got {ctype!r}")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise HTTPException(413, f"body: {declared} bytes is over the limit of {max_body_bytes}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise HTTPException(413, f"body: over the limit of {max_body_bytes} bytes")
        if not body:
            raise HTTPException(400, "body: empty; expected a lattice in the wire format")
        try:
            return Lattice.from_bytes(bytes(body))
        except LatticeError as e:
            raise HTTPException(400, f"lattice: {e}") from None
        except ValueError as e:  # any other reader complaint is still the input's fault
            raise HTTPException(400, f"lattice: malformed ({e})") from None

    def start(lattice: Lattice) -> _Pending:
        async def run() -> tuple[list, float]:
            t0 = time.perf_counter()
            result = await asyncio.to_thread(rescorer.rescore, lattice)
            return result, (time.perf_counter() - t0) * 1000.0
        return _Pending(asyncio.get_running_loop().create_task(run()), lattice.text())

    def remember(key: tuple[str, int], job: _Pending) -> None:
        pending[key] = job
        pending.move_to_end(key)
        while len(pending) > max_utterances:
            _, old = pending.popitem(last=False)
            old.task.cancel()

    def discard(key: tuple[str, int]) -> bool:
        job = pending.pop(key, None)
        if job is not None:
            job.task.cancel()  # a rescoring already running in its thread finishes, and is ignored
        return job is not None

    async def reply(stream: str, utterance: int, event: str, job: _Pending, reused: bool) -> dict:
        try:
            candidates, ms = await asyncio.shield(job.task)
        except asyncio.CancelledError:
            raise HTTPException(409, f"stream {stream} utterance {utterance}: the speculative rescoring was "
                                     "discarded (reset or a newer lattice) before it finished") from None
        w = rescorer.weights
        return {"stream": stream, "utterance": utterance, "event": event, "reused": reused,
                "text": candidates[0].text if candidates else "", "nbest": [c.to_dict() for c in candidates],
                "device_text": job.device_text, "lm_weight": w.lm_weight, "word_bonus": w.word_bonus,
                "device_lm_weight": w.device_lm_weight, "rescore_ms": ms}

    stream_param = PathParam(pattern=_ID, description="the device's stream id")
    utt_param = PathParam(ge=0, le=2**31 - 1, description="utterance number within the stream")

    @app.get("/health")
    async def health() -> dict:
        w = rescorer.weights
        info = getattr(getattr(rescorer, "lm", None), "info", {}) or {}
        return {"status": "ok", "lm_weight": w.lm_weight, "word_bonus": w.word_bonus,
                "device_lm_weight": w.device_lm_weight, "max_paths": w.max_paths,
                "lm": {k: v for k, v in info.items() if isinstance(v, (int, float, str))},
                "pending": len(pending)}

    @app.post("/v1/streams/{stream}/utterances/{utterance}/speculative")
    async def speculative(request: Request, stream: str = stream_param, utterance: int = utt_param) -> dict:
        lattice = await read_lattice(request)
        key = (stream, utterance)
        discard(key)  # a repeated speculative event replaces the earlier one
        job = start(lattice)
        remember(key, job)
        return await reply(stream, utterance, "speculative", job, reused=False)

    @app.post("/v1/streams/{stream}/utterances/{utterance}/final")
    async def final(request: Request, stream: str = stream_param, utterance: int = utt_param,
                    confirmed: bool = Query(..., description="true: reuse the speculative result")) -> dict:
        key = (stream, utterance)
        if confirmed:
            job = pending.get(key)
            if job is None:
                raise HTTPException(409, f"stream {stream} utterance {utterance}: no speculative result here to "
                                         "confirm; send the final lattice with confirmed=false")
            try:
                return await reply(stream, utterance, "final", job, reused=True)
            finally:
                if pending.get(key) is job:
                    del pending[key]
        lattice = await read_lattice(request)
        discard(key)
        return await reply(stream, utterance, "final", start(lattice), reused=False)

    @app.post("/v1/streams/{stream}/utterances/{utterance}/reset")
    async def reset(stream: str = stream_param, utterance: int = utt_param) -> dict:
        return {"stream": stream, "utterance": utterance, "discarded": discard((stream, utterance))}

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:  # never a bare traceback page
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    return app


def load_rescorer(lm_path: Path, weights_path: Optional[Path] = None, threads: int = 1,
                  device_lm_path: Optional[Path] = None) -> Rescorer:
    """The LM file and its tuned weights (``--weights``, else ``rescore_weights.json`` next to the LM, else the
    defaults). Weights that take the device's n-gram LM share out (``device_lm_weight``) need that LM:
    ``device_lm_path``, else the bundled one (the bundled model's, which the default device fuses)."""
    from edgeasr.cloud.lm import load_lm
    from edgeasr.cloud.rescore import RescoreWeights, load_weights

    lm = load_lm(lm_path, threads=threads)
    if weights_path is None and (Path(lm_path).parent / "rescore_weights.json").is_file():
        weights_path = Path(lm_path).parent / "rescore_weights.json"
    weights = load_weights(weights_path) if weights_path else RescoreWeights()
    device_lm = None
    if weights.device_lm_weight != 0 or device_lm_path is not None:
        from edgeasr.ngram_lm import load_lm as load_ngram_lm
        from edgeasr.recognizer import default_lm_path

        device_lm = load_ngram_lm(device_lm_path or default_lm_path())
    return Rescorer(lm, weights, device_lm)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description="Serve lattice rescoring with the cloud LM over HTTP.")
    p.add_argument("--lm", required=True, type=Path, help="LM file (python -m edgeasr.cloud.train_lm)")
    p.add_argument("--weights", type=Path, help="tuned λ/γ JSON (default: rescore_weights.json next to the LM)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--threads", type=int, default=1, help="torch threads for LM scoring")
    p.add_argument("--device-lm", type=Path, default=None,
                   help="the n-gram LM the devices fuse, for weights that take its share out (default: the bundled "
                        "one)")
    args = p.parse_args(argv)
    try:
        rescorer = load_rescorer(args.lm, args.weights, args.threads, args.device_lm)
    except ValueError as e:
        print(f"service: error: {e}", file=sys.stderr)
        return 1
    import uvicorn

    uvicorn.run(create_app(rescorer), host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
