"""The reference service over HTTP on loopback, and the device client against it: the end-pointing protocol,
bad input, an unreachable or slow service."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from cloud_helpers import LoopbackService, free_port, sausage, tiny_training
from edgeasr.cloud.client import CloudClient
from edgeasr.cloud.rescore import RescoreWeights, Rescorer
from edgeasr.cloud.service import create_app
from edgeasr.endpoint.events import FinalEndpoint, Reset, SpeculativeEndpoint
from edgeasr.recognizer import Result


class CountingRescorer(Rescorer):
    """The real rescorer, counting calls, optionally slow."""

    def __init__(self, lm, weights, delay: float = 0.0):
        super().__init__(lm, weights)
        self.calls = 0
        self.delay = delay
        self.lock = threading.Lock()

    def rescore(self, lattice):
        with self.lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return super().rescore(lattice)


WEIGHTS = RescoreWeights(lm_weight=1.0, word_bonus=0.0, max_paths=8)


@pytest.fixture(scope="module")
def tiny_lm():
    return tiny_training()[0]


@pytest.fixture(scope="module")
def service(tiny_lm):
    rescorer = CountingRescorer(tiny_lm, WEIGHTS)
    with LoopbackService(create_app(rescorer, max_body_bytes=4096)) as svc:
        svc.rescorer = rescorer
        yield svc


def speculative_lattice():
    # "computer call mum" is acoustically ahead; the LM knows "call mom" far better.
    return sausage([[("computer", -0.2)], [("call", -0.3), ("cool", -0.4)], [("mum", -1.0), ("mom", -1.2)]])


def revised_lattice():
    return sausage([[("computer", -0.2)], [("call", -0.3), ("cool", -0.4)], [("mom", -1.0), ("mum", -1.2)],
                    [("mobile", -0.5), ("noble", -0.6)]])


def result_of(lattice):
    return Result(text=lattice.text(), words=[], tokens=[], timestamps=[], score=0.0, final=True)


def events(utterance, confirmed):
    spec_lat = speculative_lattice()
    final_lat = spec_lat if confirmed else revised_lattice()
    spec = SpeculativeEndpoint(utterance, 1.0, 0.9, spec_lat, result_of(spec_lat))
    final = FinalEndpoint(utterance, 1.3, 0.9 if confirmed else 1.2, confirmed, final_lat, result_of(final_lat))
    return spec, final


def local(rescorer, lattice):
    """The N-best texts rescoring gives here, on what the service receives: the device's wire bytes, decoded."""
    from edgeasr.lattice import Lattice

    received = Lattice.from_bytes(lattice.for_wire().to_bytes())
    return [c.text for c in Rescorer(rescorer.lm, rescorer.weights).rescore(received)]


def post(port, path, body=b"", content_type="application/octet-stream"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def test_speculative_then_confirmed_reuses_the_speculative_result(service):
    client = CloudClient(service.url, timeout=10, stream_id="s-confirmed")
    spec, final = events(0, confirmed=True)
    calls = service.rescorer.calls
    first = client.handle(spec)
    assert first.source == "cloud" and first.event == "speculative" and first.error is None
    expected = local(service.rescorer, spec.lattice)
    assert [a.text for a in first.nbest] == expected[:4]
    assert first.text == expected[0]
    assert ("s-confirmed", 0) in service.app.state.pending
    done = client.handle(final)
    assert done.source == "cloud" and done.event == "final" and done.confirmed and done.reused
    assert done.text == first.text and done.nbest == first.nbest
    assert service.rescorer.calls == calls + 1  # the confirmation did not rescore
    assert ("s-confirmed", 0) not in service.app.state.pending


def test_speculative_then_revised_and_reset_rescores_the_revision(service):
    client = CloudClient(service.url, timeout=10, stream_id="s-revised")
    spec, final = events(3, confirmed=False)
    first = client.handle(spec)
    assert first.source == "cloud"
    calls = service.rescorer.calls
    done = client.handle(final)
    assert done.source == "cloud" and done.confirmed is False and not done.reused
    assert done.text == local(service.rescorer, final.lattice)[0]
    assert len(done.text.split()) == 4  # from the revised lattice, not the speculative one
    assert service.rescorer.calls == calls + 1
    assert ("s-revised", 3) not in service.app.state.pending  # speculative work discarded
    reset = client.handle(Reset(3, 1.3))
    assert reset.event == "reset" and reset.error is None


def test_speculative_in_the_background_then_confirmed(service):
    spec, final = events(5, confirmed=True)
    with CloudClient(service.url, timeout=10, stream_id="s-async") as client:
        calls = service.rescorer.calls
        future = client.speculative_async(spec)
        done = client.handle(final)  # waits for the speculative request, then confirms
        assert future.done() and future.result().source == "cloud"
        assert done.source == "cloud" and done.reused and done.text == future.result().text
        assert service.rescorer.calls == calls + 1


def test_reset_before_final_discards_on_the_service(service):
    client = CloudClient(service.url, timeout=10, stream_id="s-reset")
    spec, _ = events(1, confirmed=False)
    client.handle(spec)
    assert ("s-reset", 1) in service.app.state.pending
    out = client.handle(Reset(1, 1.1))
    assert out.source == "cloud" and ("s-reset", 1) not in service.app.state.pending


def test_confirmation_the_service_lost_is_sent_again_as_a_lattice(service):
    client = CloudClient(service.url, timeout=10, stream_id="s-lost")
    spec, final = events(2, confirmed=True)
    client.handle(spec)
    service.app.state.pending.clear()  # as after a restart
    done = client.handle(final)
    assert done.source == "cloud" and not done.reused and done.text == local(service.rescorer, final.lattice)[0]


@pytest.mark.parametrize("path, body, ctype, status, message", [
    ("/v1/streams/s/utterances/0/speculative", b"EALT\x01garbage-bytes", "application/octet-stream", 400, "lattice"),
    ("/v1/streams/s/utterances/0/speculative", b"", "application/octet-stream", 400, "empty"),
    ("/v1/streams/s/utterances/0/speculative", b"{}", "application/json", 415, "content-type"),
    ("/v1/streams/s/utterances/0/speculative", b"x" * 5000, "application/octet-stream", 413, "limit"),
    ("/v1/streams/s/utterances/0/final?confirmed=false", b"\x00" * 40, "application/octet-stream", 400, "lattice"),
    ("/v1/streams/s/utterances/9/final?confirmed=true", b"", "application/octet-stream", 409, "no speculative"),
    ("/v1/streams/s/utterances/0/final", b"", "application/octet-stream", 422, "confirmed"),
    ("/v1/streams/s/utterances/-1/speculative", b"", "application/octet-stream", 422, "utterance"),
    ("/v1/streams/bad%20id/utterances/0/speculative", b"", "application/octet-stream", 422, "stream"),
])
def test_bad_input_is_a_4xx_with_a_message(service, path, body, ctype, status, message):
    got, reply = post(service.port, path, body, ctype)
    assert got == status
    assert message in json.dumps(reply["detail"])


def test_corrupted_wire_bytes_are_rejected(service):
    wire = bytearray(speculative_lattice().for_wire().to_bytes())
    wire[len(wire) // 2] ^= 0x10
    status, reply = post(service.port, "/v1/streams/s/utterances/4/speculative", bytes(wire))
    assert status == 400 and "lattice" in reply["detail"]
    status, _ = post(service.port, "/v1/streams/s/utterances/4/speculative", speculative_lattice().to_bytes())
    assert status == 200


def test_a_bad_reply_falls_back_to_the_device(service):
    client = CloudClient(service.url + "/no-such-prefix", timeout=5, stream_id="s-404")
    _, final = events(0, confirmed=True)
    out = client.handle(final)
    assert out.source == "device" and "HTTP 404" in out.error
    assert out.text == final.result.text and out.nbest[0].text == final.lattice.nbest(1)[0].text


def test_service_down_falls_back_to_the_device_within_the_timeout():
    client = CloudClient(f"http://127.0.0.1:{free_port()}", timeout=1.0)  # nothing listens there
    spec, final = events(0, confirmed=True)
    for event in (spec, final):
        t0 = time.monotonic()
        out = client.handle(event)
        assert time.monotonic() - t0 < 1.5
        assert out.source == "device" and out.text == event.result.text and "connection" in out.error
        assert [a.text for a in out.nbest] == [p.text for p in event.lattice.nbest(4)]
        assert all(a.lm is None for a in out.nbest)


def test_slow_service_times_out_and_the_device_result_stands(tiny_lm):
    slow = CountingRescorer(tiny_lm, WEIGHTS, delay=3.0)
    with LoopbackService(create_app(slow)) as svc:
        client = CloudClient(svc.url, timeout=0.4)
        spec, final = events(0, confirmed=False)
        for event in (spec, final):
            t0 = time.monotonic()
            out = client.handle(event)
            elapsed = time.monotonic() - t0
            assert 0.3 < elapsed < 1.0
            assert out.source == "device" and out.text == event.result.text and "timeout" in out.error


def test_health_and_client_arguments(service):
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    conn.request("GET", "/health")
    health = json.loads(conn.getresponse().read())
    conn.close()
    assert health["status"] == "ok" and health["lm_weight"] == WEIGHTS.lm_weight
    for kwargs, message in [({"url": "ftp://x"}, "url"), ({"url": "http://x", "timeout": 0}, "timeout"),
                            ({"url": "http://x", "stream_id": "a b"}, "stream_id")]:
        with pytest.raises(ValueError, match=message):
            CloudClient(**kwargs)
    with pytest.raises(ValueError, match="event"):
        CloudClient("http://x").handle("speculative")


def test_weights_that_take_the_device_lm_out_load_it(tmp_path):
    """A weights file with device_lm_weight makes the service load the device's n-gram LM (the bundled one unless
    --device-lm names another); the replies and /health name the weight."""
    from pathlib import Path

    from edgeasr.cloud.rescore import save_weights
    from edgeasr.cloud.service import load_rescorer
    from edgeasr.recognizer import default_lm_path

    lm_file = Path(tiny_training()[1].run.out_dir) / "lm.pt"
    assert lm_file.is_file()
    plain = save_weights(tmp_path / "plain.json", RescoreWeights(1.0, 0.0, 8))
    assert load_rescorer(lm_file, plain).device_lm is None
    taking = save_weights(tmp_path / "taking.json", RescoreWeights(1.0, 0.0, 8, device_lm_weight=-0.2))
    rescorer = load_rescorer(lm_file, taking)
    assert rescorer.device_lm is not None and rescorer.weights.device_lm_weight == -0.2
    assert load_rescorer(lm_file, taking, device_lm_path=default_lm_path()).device_lm.tokens == \
        rescorer.device_lm.tokens
    with LoopbackService(create_app(rescorer)) as svc:
        status, reply = post(svc.port, "/v1/streams/s/utterances/0/speculative",
                             speculative_lattice().for_wire().to_bytes())
        assert status == 200 and reply["device_lm_weight"] == -0.2
        assert all(c["device_lm"] < 0 for c in reply["nbest"])
        conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10)
        conn.request("GET", "/health")
        assert json.loads(conn.getresponse().read())["device_lm_weight"] == -0.2
        conn.close()


def test_service_command_rejects_a_bad_lm_file(tmp_path):
    import subprocess
    import sys

    (tmp_path / "lm.pt").write_bytes(b"nope")
    run = subprocess.run([sys.executable, "-m", "edgeasr.cloud.service", "--lm", str(tmp_path / "lm.pt")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "not a readable torch file" in run.stderr


def test_events_of_a_real_endpointing_stream_end_to_end(service):
    import numpy as np

    from edgeasr import Recognizer, load_audio
    from edgeasr.endpoint.stream import EndpointingStream
    from edgeasr.recognizer import default_model_path

    rec = Recognizer()
    samples, rate = load_audio(str(default_model_path().parent / "example.wav"))
    samples = np.concatenate([samples, np.zeros(rate, np.float32)])  # a second of silence: the final end-point
    stream = EndpointingStream(rec)
    events = [e for i in range(0, len(samples), 1600) for e in stream.accept_waveform(samples[i:i + 1600], rate)]
    events += stream.input_finished()
    finals = [e for e in events if isinstance(e, FinalEndpoint)]
    assert finals and any(isinstance(e, SpeculativeEndpoint) for e in events)
    client = CloudClient(service.url, timeout=10, stream_id="s-e2e")
    outcomes = [client.handle(e) for e in events]
    assert all(o.source == "cloud" and o.error is None for o in outcomes)
    for event, outcome in zip(events, outcomes):
        if isinstance(event, FinalEndpoint):
            assert outcome.text == local(service.rescorer, event.lattice)[0]
            assert outcome.reused == event.confirmed


def _listen_records(capsys, *options):
    from edgeasr.cli import main as cli_main
    from edgeasr.recognizer import default_model_path

    example = str(default_model_path().parent / "example.wav")
    assert cli_main(["listen", "--file", example, "--json", *options]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_listen_sends_each_event_to_the_service_and_prints_its_answer(service, capsys):
    before = service.rescorer.calls
    records = _listen_records(capsys, "--cloud", service.url, "--beam", "8")
    assert [(r["kind"], r.get("event")) for r in records] == [
        ("SpeculativeEndpoint", None), ("CloudOutcome", "speculative"), ("FinalEndpoint", None),
        ("CloudOutcome", "final")]
    outcomes = [r for r in records if r["kind"] == "CloudOutcome"]
    assert all(o["source"] == "cloud" and o["error"] is None and o["utterance"] == 0 for o in outcomes)
    assert service.rescorer.calls == before + 1   # the final confirmed: the speculative result was reused
    assert outcomes[1]["text"] == outcomes[0]["text"]


def test_listen_sends_the_speculative_lattice_off_the_decoding_thread(service, capsys, monkeypatch):
    import threading

    from edgeasr.cloud.client import CloudClient

    threads = []
    send = CloudClient.speculative

    def spy(self, event):
        threads.append(threading.current_thread().name)
        return send(self, event)

    monkeypatch.setattr(CloudClient, "speculative", spy)
    records = _listen_records(capsys, "--cloud", service.url)
    assert threads and all(name.startswith("edgeasr-cloud") for name in threads)
    # Each answer still follows its own event.
    assert [(r["kind"], r.get("event")) for r in records] == [
        ("SpeculativeEndpoint", None), ("CloudOutcome", "speculative"), ("FinalEndpoint", None),
        ("CloudOutcome", "final")]


def test_listen_falls_back_to_the_device_when_the_service_is_down(capsys):
    records = _listen_records(capsys, "--cloud", f"http://127.0.0.1:{free_port()}", "--cloud-timeout", "0.3")
    events, outcomes = records[0::2], records[1::2]
    assert [r["kind"] for r in outcomes] == ["CloudOutcome", "CloudOutcome"]
    for event, outcome in zip(events, outcomes):
        assert outcome["source"] == "device" and outcome["error"]
        assert outcome["text"] == event["text"] and outcome["text"].startswith("computer")


def test_listen_refuses_a_malformed_service_url(capsys):
    from edgeasr.cli import main as cli_main
    from edgeasr.recognizer import default_model_path

    example = str(default_model_path().parent / "example.wav")
    assert cli_main(["listen", "--file", example, "--cloud", "ftp://x"]) == 1
    assert "url" in capsys.readouterr().err
