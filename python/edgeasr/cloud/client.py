"""The device side of cloud rescoring: end-pointing events in, the best transcript out, always.

    client = CloudClient("http://rescorer.example:8080", timeout=0.5)
    for event in endpointer_events:                  # SpeculativeEndpoint, FinalEndpoint, Reset
        outcome = client.handle(event)
        if outcome.event == "final":
            act_on(outcome.text)                     # source "cloud", or "device" when the cloud failed us

``handle`` blocks for at most ``timeout`` per event. A device that must not wait at the speculative end-point sends
it with ``speculative_async(event)`` (a future of the same outcome); the final event then waits for that request
(within its own timeout) before it confirms.

A speculative event sends its lattice at once (the server starts rescoring early); a confirmed final event sends no
lattice, only the confirmation, and gets the speculative result back; a revised final event sends the revised
lattice (the server discards the speculative work). When the service is unreachable, too slow (``timeout``
seconds for the whole event) or answers with anything but a well-formed result, the outcome is the event's own
on-device hypothesis with ``source="device"`` and the reason in ``error``.

Standard library only: this module runs on the device, next to the recognizer, without torch or an HTTP framework.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import math
import socket
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Union

from edgeasr.endpoint.events import FinalEndpoint, Reset, SpeculativeEndpoint

if TYPE_CHECKING:
    from edgeasr.lattice import Lattice

__all__ = ["CloudClient", "Outcome", "Alternative"]


@dataclass(frozen=True)
class Alternative:
    text: str
    score: float            # the ranking score (cloud: acoustic + bias + λ·lm + γ·words; device: acoustic + bias)
    acoustic: float
    bias: float
    lm: Optional[float]     # None on the device


@dataclass(frozen=True)
class Outcome:
    utterance: int
    event: str              # "speculative", "final" or "reset"
    text: str               # the best transcript ("" for a reset)
    nbest: tuple[Alternative, ...]
    source: str             # "cloud" or "device"
    confirmed: Optional[bool] = None   # final events: whether the speculative lattice stood
    reused: bool = False    # the cloud reused its speculative result
    error: Optional[str] = None        # why the device's hypothesis stands, when source == "device"
    elapsed_s: float = 0.0


class _Failure(Exception):
    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status  # the HTTP status when the service answered


@dataclass
class _Utterance:
    speculative_sent: bool = False     # the service accepted the speculative lattice
    future: Optional["concurrent.futures.Future[Outcome]"] = None   # a speculative request still in flight


class CloudClient:
    """Talks to :mod:`edgeasr.cloud.service` for one stream. ``url`` is the service's base (``http://host:port``);
    ``timeout`` bounds the seconds spent on one event, after which the device's result stands. Not thread-safe:
    one client per stream, used from the thread that handles the stream's events."""

    def __init__(self, url: str, timeout: float = 1.0, stream_id: Optional[str] = None, nbest: int = 4,
                 prune_for_wire: bool = True):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: expected http://host[:port][/prefix], got {url!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
                or timeout <= 0:
            raise ValueError(f"timeout: expected a positive number of seconds, got {timeout!r}")
        if isinstance(nbest, bool) or not isinstance(nbest, int) or nbest < 1:
            raise ValueError(f"nbest: expected a positive int, got {nbest!r}")
        self.stream_id = stream_id or uuid.uuid4().hex
        if not all(c.isalnum() or c in "_.-" for c in self.stream_id) or not 1 <= len(self.stream_id) <= 128:
            raise ValueError(f"stream_id: expected 1-128 characters of [A-Za-z0-9_.-], got {self.stream_id!r}")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self.timeout = float(timeout)
        self.nbest = nbest
        self.prune_for_wire = prune_for_wire
        self._utterances: dict[int, _Utterance] = {}
        self._executor: Optional[concurrent.futures.ThreadPoolExecutor] = None

    def close(self) -> None:
        """Stops the background sender of :meth:`speculative_async` (requests in flight finish)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def __enter__(self) -> "CloudClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- events ----------------------------------------------------------------------------------------------
    def handle(self, event: Union[SpeculativeEndpoint, FinalEndpoint, Reset]) -> Outcome:
        if isinstance(event, SpeculativeEndpoint):
            return self.speculative(event)
        if isinstance(event, FinalEndpoint):
            return self.final(event)
        if isinstance(event, Reset):
            return self.reset(event)
        raise ValueError(f"event: expected SpeculativeEndpoint, FinalEndpoint or Reset, got {type(event).__name__}")

    def speculative(self, event: SpeculativeEndpoint) -> Outcome:
        t0 = time.monotonic()
        state = self._utterances.setdefault(event.utterance, _Utterance())
        state.speculative_sent = False  # set only once the service has accepted this lattice
        try:
            body = self._encode(event.lattice)
            reply = self._post(event.utterance, "speculative", body, t0 + self.timeout)
        except _Failure as e:
            return self._device(event, "speculative", str(e), t0)
        state.speculative_sent = True
        return self._cloud(event.utterance, "speculative", reply, t0)

    def speculative_async(self, event: SpeculativeEndpoint) -> "concurrent.futures.Future[Outcome]":
        """:meth:`speculative` on a background thread; the final event of the utterance waits for it."""
        if not isinstance(event, SpeculativeEndpoint):
            raise ValueError(f"event: expected a SpeculativeEndpoint, got {type(event).__name__}")
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="edgeasr-cloud")
        state = self._utterances.setdefault(event.utterance, _Utterance())
        state.future = self._executor.submit(self.speculative, event)
        return state.future

    def final(self, event: FinalEndpoint) -> Outcome:
        t0 = time.monotonic()
        deadline = t0 + self.timeout
        state = self._utterances.get(event.utterance)
        if state is not None and state.future is not None:
            try:  # the speculative request must land first, or the confirmation finds nothing to confirm
                state.future.result(timeout=max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                pass  # still in flight: the service has nothing to confirm yet, so the lattice is sent below
        state = self._utterances.pop(event.utterance, None)
        try:
            if event.confirmed and state is not None and state.speculative_sent:
                try:
                    reply = self._post(event.utterance, "final", None, deadline, confirmed=True)
                    return self._cloud(event.utterance, "final", reply, t0, confirmed=True)
                except _Failure as e:
                    if e.status != 409:
                        raise
                    # The service lost the speculative result (restart, eviction): send the lattice itself.
            body = self._encode(event.lattice)
            reply = self._post(event.utterance, "final", body, deadline, confirmed=False)
        except _Failure as e:
            return self._device(event, "final", str(e), t0, confirmed=event.confirmed)
        return self._cloud(event.utterance, "final", reply, t0, confirmed=event.confirmed)

    def reset(self, event: Reset) -> Outcome:
        """Forget the utterance's speculative state here. The revised final event that precedes a Reset has
        already told the service; only a speculative lattice still outstanding is discarded there."""
        t0 = time.monotonic()
        state = self._utterances.pop(event.utterance, None)
        error = None
        if state is not None and state.speculative_sent:
            try:
                self._post(event.utterance, "reset", b"", t0 + self.timeout)
            except _Failure as e:
                error = str(e)  # nothing depends on it: the service drops old speculative results by itself
        return Outcome(event.utterance, "reset", "", (), "device" if error else "cloud", error=error,
                       elapsed_s=time.monotonic() - t0)

    # ---- outcomes --------------------------------------------------------------------------------------------
    def _device(self, event, kind: str, error: str, t0: float, confirmed: Optional[bool] = None) -> Outcome:
        alternatives: tuple[Alternative, ...] = ()
        try:
            alternatives = tuple(Alternative(p.text, p.score, p.acoustic, p.bias, None)
                                 for p in event.lattice.nbest(self.nbest))
        except Exception:  # the device result stands even when its own lattice cannot be expanded
            pass
        text = getattr(event.result, "text", None)
        if not isinstance(text, str):
            text = alternatives[0].text if alternatives else ""
        return Outcome(event.utterance, kind, text, alternatives, "device", confirmed=confirmed, error=error,
                       elapsed_s=time.monotonic() - t0)

    def _cloud(self, utterance: int, kind: str, reply: dict, t0: float, confirmed: Optional[bool] = None) -> Outcome:
        try:
            text = reply["text"]
            nbest = tuple(Alternative(str(c["text"]), float(c["score"]), float(c["acoustic"]), float(c["bias"]),
                                      float(c["lm"])) for c in reply["nbest"][:self.nbest])
            reused = bool(reply.get("reused", False))
            if not isinstance(text, str):
                raise TypeError("text is not a string")
        except (KeyError, TypeError, ValueError) as e:
            raise _Failure(f"bad reply: {type(e).__name__}: {e}") from None
        return Outcome(utterance, kind, text, nbest, "cloud", confirmed=confirmed, reused=reused,
                       elapsed_s=time.monotonic() - t0)

    # ---- HTTP ------------------------------------------------------------------------------------------------
    def _encode(self, lattice: "Lattice") -> bytes:
        try:
            return (lattice.for_wire() if self.prune_for_wire else lattice).to_bytes()
        except Exception as e:
            raise _Failure(f"cannot encode the lattice: {type(e).__name__}: {e}") from None

    def _post(self, utterance: int, action: str, body: Optional[bytes], deadline: float,
              confirmed: Optional[bool] = None) -> dict:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Failure("timeout: no time left for the request")
        path = f"{self._prefix}/v1/streams/{self.stream_id}/utterances/{int(utterance)}/{action}"
        if confirmed is not None:
            path += f"?confirmed={'true' if confirmed else 'false'}"
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=left)
        try:
            conn.request("POST", path, body=body or b"", headers={"Content-Type": "application/octet-stream"})
            response = conn.getresponse()
            data = _read_until(response, deadline)
            status = response.status
        except (socket.timeout, TimeoutError) as e:
            raise _Failure(f"timeout after {self.timeout:g} s ({e})") from None
        except (OSError, http.client.HTTPException) as e:
            raise _Failure(f"connection: {type(e).__name__}: {e}") from None
        finally:
            conn.close()
        if status != 200:
            raise _Failure(f"HTTP {status}: {_detail(data)}", status)
        try:
            reply = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise _Failure(f"bad reply: not JSON ({e})") from None
        if not isinstance(reply, dict):
            raise _Failure("bad reply: not a JSON object")
        return reply


def _read_until(response: http.client.HTTPResponse, deadline: float, limit: int = 1 << 22) -> bytes:
    """The body, failing when the deadline passes between chunks (a slowly dripping server) or it is too long."""
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise TimeoutError("deadline passed while reading the reply")
        chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise http.client.HTTPException(f"reply over {limit} bytes")
        chunks.append(chunk)


def _detail(data: bytes) -> str:
    try:
        obj = json.loads(data)
        if isinstance(obj, dict) and "detail" in obj:
            return str(obj["detail"])[:300]
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    return data[:300].decode("utf-8", "replace")
