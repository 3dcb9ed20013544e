"""The model file: exact round trips, and every kind of damaged or hostile file rejected with ModelFileError."""

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import save_file

import edgeasr
from edgeasr.cli import main as cli_main
from edgeasr.features import FbankConfig
from edgeasr.kernels import QuantizedMatrix
from edgeasr.model_file import Architecture, ModelFile, ModelFileError, STORAGE_FORMATS, load_model, save_model
from edgeasr.tokens import TokenTable

ARCH = Architecture(num_features=8, stack=3, d_model=8, hidden=20, num_layers=2, decoder_dim=6, context_size=2,
                    joiner_dim=7, vocab_size=6)
TOKENS = TokenTable(["<blk>", "<unk>", "\u2581a", "b", "\u2581ab", "c"], [0.0, 0.0, -1.0, -2.0, -0.5, -3.0])


def make_model(arch=ARCH, formats=STORAGE_FORMATS, seed=0, source="unit test"):
    """Random weights; the matrices take the storage formats in turn."""
    rng = np.random.default_rng(seed)
    tensors = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in arch.tensor_shapes().items()}
    for i, name in enumerate(arch.matrices()):
        fmt = formats[i % len(formats)]
        if fmt != "float32":
            tensors[name] = QuantizedMatrix.from_float(tensors[name], bits=8 if fmt.endswith("q8") else 4,
                                                       sparsity=0.6 if fmt.startswith("sparse") else None)
    return ModelFile(arch, FbankConfig(num_bins=arch.num_features), TOKENS, tensors, source=source)


@pytest.fixture(scope="module")
def good_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "good.safetensors"
    save_model(path, make_model())
    return path


def assert_same_model(a: ModelFile, b: ModelFile):
    assert a.architecture == b.architecture and a.features == b.features and a.source == b.source
    assert a.tokens == b.tokens and a.tokens.scores == b.tokens.scores
    assert a.weights_format == b.weights_format
    assert list(a.tensors) == list(b.tensors)
    for name, t in a.tensors.items():
        u = b.tensors[name]
        if isinstance(t, QuantizedMatrix):
            pa, pb = t.to_parts(), u.to_parts()
            assert pa.keys() == pb.keys()
            for key in pa:
                np.testing.assert_array_equal(pa[key], pb[key], err_msg=f"{name}.{key}")
        else:
            assert u.dtype == np.float32
            np.testing.assert_array_equal(t, u, err_msg=name)


# --- round trips ------------------------------------------------------------------------------------------------
def test_round_trip_is_exact(good_file):
    loaded = load_model(good_file)
    assert_same_model(loaded, make_model())
    assert loaded.path == good_file
    assert loaded.subsampling == 3 and loaded.frame_shift_ms == 10.0 and loaded.sample_rate == 16000
    assert set(loaded.weights_format.values()) == set(STORAGE_FORMATS)
    assert loaded.tokens.encode("ab a") == [4, 2]
    floats = [t for t in loaded.tensors.values() if isinstance(t, np.ndarray)]
    assert floats and not any(t.flags.writeable for t in floats)  # the loaded model is immutable


@pytest.mark.parametrize("fmt", STORAGE_FORMATS)
def test_round_trip_of_each_format_alone(fmt, tmp_path):
    model = make_model(formats=(fmt,), seed=3)
    save_model(tmp_path / "m.safetensors", model)
    loaded = load_model(tmp_path / "m.safetensors")
    assert set(loaded.weights_format.values()) == {fmt}
    assert_same_model(loaded, model)


def test_file_layout(good_file):
    with safe_open(str(good_file), framework="numpy") as f:
        meta = f.metadata()
        names = set(f.keys())
        dtypes = {n: f.get_slice(n).get_dtype() for n in names}
        shapes = {n: f.get_slice(n).get_shape() for n in names}
    assert set(meta) == {"format", "version", "architecture", "features", "tokens", "weights", "source"}
    assert meta["format"] == "edgeasr.model" and meta["version"] == "1"
    arch = json.loads(meta["architecture"])
    assert arch == {"type": "lstm_transducer", "num_features": 8, "stack": 3, "d_model": 8, "hidden": 20,
                    "num_layers": 2, "decoder_dim": 6, "context_size": 2, "joiner_dim": 7, "vocab_size": 6,
                    "blank_id": 0}
    features = json.loads(meta["features"])
    assert features == {"sample_rate": 16000, "num_bins": 8, "frame_length_ms": 25.0, "frame_shift_ms": 10.0,
                        "dither": 0.0, "snip_edges": True, "subsampling": 3}
    assert json.loads(meta["tokens"])["scores"] == list(TOKENS.scores)
    weights = json.loads(meta["weights"])
    assert weights["encoder.input_proj.weight"] == {"format": "float32", "rows": 8, "cols": 24}
    assert weights["encoder.layers.0.weight_ih_l0"] == {"format": "dense_q8", "rows": 80, "cols": 8}
    assert weights["encoder.layers.0.weight_hr_l0"] == {"format": "sparse_q8", "rows": 8, "cols": 20}
    # float32 by name; dense: scales + values; sparse: + masks + row_offsets.
    assert dtypes["encoder.input_proj.weight"] == "F32" and shapes["encoder.input_proj.weight"] == [8, 24]
    assert "encoder.layers.0.weight_ih_l0" not in names
    assert dtypes["encoder.layers.0.weight_ih_l0.values"] == "I8"
    assert dtypes["encoder.layers.0.weight_hh_l0.values"] == "U8"  # dense_q4
    assert shapes["encoder.layers.0.weight_ih_l0.scales"] == [80]
    assert dtypes["encoder.layers.0.weight_hr_l0.masks"] == "U64"
    assert shapes["encoder.layers.0.weight_hr_l0.masks"] == [8]
    assert dtypes["encoder.layers.0.weight_hr_l0.row_offsets"] == "U32"
    assert "encoder.layers.0.weight_ih_l0.masks" not in names
    assert not any(n.startswith("ctc_head") or "feature_mean" in n for n in names)


def test_save_refuses_inconsistent_models(tmp_path):
    model = make_model()
    model.tensors["decoder.conv.bias"] = np.zeros(5, np.float32)
    with pytest.raises(ValueError, match=r"tensors\['decoder.conv.bias'\]: expected float32 \(6,\)"):
        save_model(tmp_path / "x.safetensors", model)
    model = make_model()
    model.tensors["decoder.embedding.weight"] = QuantizedMatrix.from_float(np.ones((6, 6), np.float32))
    with pytest.raises(ValueError, match="only the matrices .* may be quantized"):
        save_model(tmp_path / "x.safetensors", model)
    model = make_model()
    model.tensors["joiner.output.bias"][0] = np.nan
    with pytest.raises(ValueError, match="joiner.output.bias.*NaN"):
        save_model(tmp_path / "x.safetensors", model)
    model = make_model()
    del model.tensors["joiner.output.bias"]
    with pytest.raises(ValueError, match=r"missing \['joiner.output.bias'\]"):
        save_model(tmp_path / "x.safetensors", model)
    model = make_model()
    model.tokens = TokenTable(TOKENS.pieces)
    with pytest.raises(ValueError, match="tokens: the table has no piece scores"):
        save_model(tmp_path / "x.safetensors", model)
    assert not list(tmp_path.iterdir())  # nothing written


def test_package_exports():
    for name in ("load_model", "save_model", "ModelFile", "ModelFileError", "Architecture"):
        assert getattr(edgeasr, name) is not None and name in edgeasr.__all__


# --- hostile files: helpers ----------------------------------------------------------------------------------------
def read_stored(path):
    with safe_open(str(path), framework="numpy") as f:
        return {n: f.get_tensor(n) for n in f.keys()}, dict(f.metadata())


def write(path, tensors, metadata):
    save_file(tensors, str(path), metadata=metadata)
    return path


def expect_error(path, message):
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value)
    return info.value


def edit_json(meta, key, change):
    obj = json.loads(meta[key])
    change(obj)
    return {**meta, key: json.dumps(obj)}


# --- metadata ----------------------------------------------------------------------------------------------------
def _set(key, value):
    def change(obj):
        obj[key] = value
    return change


def _delete(key):
    def change(obj):
        del obj[key]
    return change


METADATA_CASES = [
    (lambda m: {**m, "format": "edgeasr.other"}, r"not an edgeasr.model file"),
    (lambda m: {k: v for k, v in m.items() if k != "format"}, r"not an edgeasr.model file"),
    (lambda m: {**m, "version": "2"}, r"version '2' is not supported"),
    (lambda m: {k: v for k, v in m.items() if k != "weights"}, r"metadata: missing \['weights'\]"),
    (lambda m: {**m, "extra": "x"}, r"metadata: .*unknown \['extra'\]"),
    (lambda m: {**m, "architecture": "{not json"}, r"architecture: not valid JSON"),
    (lambda m: {**m, "architecture": "[" * 100000 + "]" * 100000}, r"architecture: not valid JSON"),
    (lambda m: {**m, "architecture": "[1, 2]"}, r"architecture: expected a JSON object"),
    (lambda m: edit_json(m, "architecture", _set("type", "conformer")), r"architecture.type: expected"),
    (lambda m: edit_json(m, "architecture", _set("num_layers", 0)), r"architecture.num_layers: expected an int"),
    (lambda m: edit_json(m, "architecture", _set("num_layers", 2.0)), r"architecture.num_layers: expected an int"),
    (lambda m: edit_json(m, "architecture", _set("d_model", True)), r"architecture.d_model: expected an int"),
    (lambda m: edit_json(m, "architecture", _set("d_model", "8")), r"architecture.d_model: expected an int"),
    (lambda m: edit_json(m, "architecture", _set("hidden", 10 ** 9)), r"architecture.hidden: expected an int in"),
    (lambda m: edit_json(m, "architecture", _set("d_model", 20)), r"architecture.d_model: the LSTM projection"),
    (lambda m: edit_json(m, "architecture", _set("blank_id", 3)), r"architecture.blank_id"),
    (lambda m: edit_json(m, "architecture", _delete("joiner_dim")), r"architecture: keys differ.*joiner_dim"),
    (lambda m: edit_json(m, "architecture", _set("extra", 1)), r"architecture: keys differ.*unknown \['extra'\]"),
    (lambda m: edit_json(m, "features", _set("num_bins", 9)), r"features.num_bins \(9\) differs"),
    (lambda m: edit_json(m, "features", _set("subsampling", 4)), r"features.subsampling \(4\) differs"),
    (lambda m: edit_json(m, "features", _set("sample_rate", 16000.5)), r"features.sample_rate: expected"),
    (lambda m: edit_json(m, "features", _set("sample_rate", 0)), r"features.sample_rate: expected \[1000"),
    (lambda m: edit_json(m, "features", _set("frame_shift_ms", 40.0)), r"frame_shift_ms: must be in"),
    (lambda m: edit_json(m, "features", _set("snip_edges", 1)), r"features.snip_edges: expected a bool"),
    (lambda m: {**m, "features": m["features"].replace('"dither": 0.0', '"dither": NaN')}, r"features: not valid JSON"),
    (lambda m: {**m, "features": m["features"].replace('"dither": 0.0', '"dither": 1e999')},
     r"features.dither: expected a finite number"),
    (lambda m: edit_json(m, "features", _delete("frame_length_ms")), r"features: keys differ"),
    (lambda m: edit_json(m, "features", _set("frame_length_ms", 10 ** 400)), r"features.frame_length_ms: expected"),
    # 16 samples: 8 FFT bins under 8 mel bins, which the front end's library would read outside its vectors for
    (lambda m: edit_json(m, "features", lambda f: f.update(frame_length_ms=1.0, frame_shift_ms=1.0)),
     r"features: num_bins: 8 mel bins are too many for a 16-sample window"),
    (lambda m: edit_json(m, "features", _set("frame_shift_ms", -(10 ** 400))), r"frame_shift_ms: must be in"),
    (lambda m: edit_json(m, "tokens", lambda o: o["scores"].__setitem__(2, 10 ** 400)),
     r"tokens: scores\[2\]: expected a finite number"),
    (lambda m: {**m, "tokens": "nope"}, r"tokens: text: not JSON"),
    (lambda m: edit_json(m, "tokens", lambda o: o["pieces"].append("d") or o["scores"].append(-4.0)),
     r"tokens: 7 pieces, but architecture.vocab_size is 6"),
    (lambda m: edit_json(m, "tokens", _delete("scores")), r"tokens: the table has no piece scores"),
    (lambda m: edit_json(m, "tokens", lambda o: o["scores"].pop()), r"scores: expected one per piece"),
    (lambda m: edit_json(m, "weights", lambda o: o.pop("joiner.output.weight")),
     r"weights: names differ.*missing \['joiner.output.weight'\]"),
    (lambda m: edit_json(m, "weights", lambda o: o.update({"decoder.embedding.weight": o["joiner.output.weight"]})),
     r"weights: names differ.*unexpected \['decoder.embedding.weight'\]"),
    (lambda m: edit_json(m, "weights", lambda o: o["joiner.output.weight"].update(format="sparse_q2")),
     r"weights\['joiner.output.weight'\].format: expected one of"),
    (lambda m: edit_json(m, "weights", lambda o: o["joiner.output.weight"].update(rows=7)),
     r"weights\['joiner.output.weight'\]: rows x cols \(7, 7\) differ"),
    (lambda m: edit_json(m, "weights", lambda o: o["joiner.output.weight"].pop("cols")),
     r"weights\['joiner.output.weight'\]: expected an object with format, rows and cols"),
    # A storage format that disagrees with the tensors present.
    (lambda m: edit_json(m, "weights", lambda o: o["encoder.input_proj.weight"].update(format="dense_q8")),
     r"tensors: names differ"),
    (lambda m: edit_json(m, "weights", lambda o: o["encoder.layers.0.weight_ih_l0"].update(format="dense_q4")),
     r"tensor 'encoder.layers.0.weight_ih_l0.values': expected U8 \[n\], got I8"),
    (lambda m: edit_json(m, "weights", lambda o: o["encoder.layers.0.weight_hh_l0"].update(format="sparse_q4")),
     r"tensors: names differ.*missing \['encoder.layers.0.weight_hh_l0.masks'"),
]


@pytest.mark.parametrize("change, message", METADATA_CASES)
def test_bad_metadata_is_rejected(good_file, tmp_path, change, message):
    tensors, meta = read_stored(good_file)
    expect_error(write(tmp_path / "bad.safetensors", tensors, change(meta)), message)


def test_no_metadata_at_all(good_file, tmp_path):
    tensors, _ = read_stored(good_file)
    save_file(tensors, str(tmp_path / "bare.safetensors"))
    expect_error(tmp_path / "bare.safetensors", r"not an edgeasr.model file")


# --- tensors -----------------------------------------------------------------------------------------------------
def _tensor_change(fn):
    def change(tensors):
        fn(tensors)
        return tensors
    return change


TENSOR_CASES = [
    (_tensor_change(lambda t: t.pop("decoder.conv.bias")), r"tensors: names differ.*missing \['decoder.conv.bias'\]"),
    (_tensor_change(lambda t: t.update(extra=np.zeros(2, np.float32))), r"unexpected \['extra'\]"),
    (_tensor_change(lambda t: t.update({"ctc_head.weight": np.zeros((6, 8), np.float32)})),
     r"unexpected \['ctc_head.weight'\]"),
    (_tensor_change(lambda t: t.update({"encoder.input_proj.weight": np.ascontiguousarray(
        t["encoder.input_proj.weight"].T)})),
     r"tensor 'encoder.input_proj.weight': expected F32 \[8, 24\], got F32 \[24, 8\]"),
    (_tensor_change(lambda t: t.update({"decoder.embedding.weight": t["decoder.embedding.weight"].astype(np.float64)})),
     r"tensor 'decoder.embedding.weight': expected F32 \[6, 6\], got F64"),
    (_tensor_change(lambda t: t.update({"decoder.conv.weight": t["decoder.conv.weight"].reshape(6, 2)})),
     r"tensor 'decoder.conv.weight': expected F32 \[6, 1, 2\], got F32 \[6, 2\]"),
    (_tensor_change(lambda t: t["joiner.output.bias"].__setitem__(2, np.nan)),
     r"tensor 'joiner.output.bias': contains NaN or infinity"),
    (_tensor_change(lambda t: t["encoder.input_proj.weight"].__setitem__((1, 1), -np.inf)),
     r"tensor 'encoder.input_proj.weight': contains NaN or infinity"),
    (_tensor_change(lambda t: t["encoder.layers.0.weight_ih_l0.scales"].__setitem__(0, 0.0)),
     r"tensor 'encoder.layers.0.weight_ih_l0' \(dense_q8\): scales: row 0 has scale 0"),
    (_tensor_change(lambda t: t["encoder.layers.0.weight_ih_l0.scales"].__setitem__(5, np.nan)),
     r"scales: row 5 has scale nan"),
    (_tensor_change(lambda t: t.update({"encoder.layers.0.weight_ih_l0.values":
                                        t["encoder.layers.0.weight_ih_l0.values"][:-1]})),
     r"\(dense_q8\): values: dense_q8 needs 80 rows x 64 bytes = 5120, got 5119"),
    (_tensor_change(lambda t: t["encoder.layers.0.weight_ih_l0.values"].__setitem__(0, -128)),
     r"values: row 0, column 0 holds -128"),
    (_tensor_change(lambda t: t["encoder.layers.0.weight_hr_l0.masks"].__setitem__(0, np.uint64(1 << 40))),
     r"\(sparse_q8\): masks: row 0 sets the bit of column 40, at or past cols \(20\)"),
    (_tensor_change(lambda t: t["encoder.layers.0.weight_hr_l0.row_offsets"].__setitem__(0, 1)),
     r"\(sparse_q8\): row_offsets: must start at 0"),
    (_tensor_change(lambda t: t.update({"encoder.layers.0.weight_hr_l0.row_offsets":
                                        t["encoder.layers.0.weight_hr_l0.row_offsets"].astype(np.uint64)})),
     r"tensor 'encoder.layers.0.weight_hr_l0.row_offsets': expected U32 \[9\], got U64"),
    (_tensor_change(lambda t: t.update({"encoder.layers.0.weight_hr_l0.masks":
                                        t["encoder.layers.0.weight_hr_l0.masks"][:-1].copy()})),
     r"tensor 'encoder.layers.0.weight_hr_l0.masks': expected U64 \[8\], got U64 \[7\]"),
    (_tensor_change(lambda t: t.update({"encoder.layers.1.weight_ih_l0.values":
                                        t["encoder.layers.1.weight_ih_l0.values"].reshape(1, -1)})),
     r"tensor 'encoder.layers.1.weight_ih_l0.values': expected U8 \[n\]"),
]


@pytest.mark.parametrize("change, message", TENSOR_CASES)
def test_bad_tensors_are_rejected(good_file, tmp_path, change, message):
    tensors, meta = read_stored(good_file)
    tensors = {k: v.copy() for k, v in tensors.items()}
    expect_error(write(tmp_path / "bad.safetensors", change(tensors), meta), message)


# --- raw bytes ---------------------------------------------------------------------------------------------------
def test_missing_and_non_files(tmp_path):
    expect_error(tmp_path / "nothing.safetensors", "no such file")
    (tmp_path / "dir.safetensors").mkdir()
    expect_error(tmp_path / "dir.safetensors", "no such file")
    (tmp_path / "empty").write_bytes(b"")
    expect_error(tmp_path / "empty", "not a readable safetensors file")
    with pytest.raises(ValueError, match="^path: expected a file path"):
        load_model(42)


def test_header_length_field(good_file, tmp_path):
    data = good_file.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    for bogus in (2 ** 64 - 1, 2 ** 63, 2 ** 40, len(data), header_len + 1, header_len - 1, 0, 1):
        path = tmp_path / f"len_{bogus}.safetensors"
        path.write_bytes(struct.pack("<Q", bogus) + data[8:])
        expect_error(path, "not a readable safetensors file")


def test_header_not_json(good_file, tmp_path):
    data = good_file.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    garbage = b"\xff" * header_len
    (tmp_path / "g.safetensors").write_bytes(data[:8] + garbage + data[8 + header_len:])
    expect_error(tmp_path / "g.safetensors", "not a readable safetensors file")
    not_object = b"[" + b" " * (header_len - 2) + b"]"
    (tmp_path / "a.safetensors").write_bytes(data[:8] + not_object + data[8 + header_len:])
    expect_error(tmp_path / "a.safetensors", "not a readable safetensors file")


def test_header_with_overlapping_offsets(good_file, tmp_path):
    data = good_file.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    name = "joiner.output.bias"
    header[name]["data_offsets"] = [0, header[name]["data_offsets"][1] - header[name]["data_offsets"][0]]
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    (tmp_path / "o.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + header_len:])
    expect_error(tmp_path / "o.safetensors", "not a readable safetensors file")


def load_or_model_file_error(path):
    """Loads ``path``; a ModelFileError is fine, anything else (another exception, a crash) fails the test."""
    try:
        return load_model(path)
    except ModelFileError as e:
        assert str(path) in str(e)
        return None


def test_truncation_at_many_offsets(good_file, tmp_path):
    data = good_file.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    offsets = sorted(set(range(0, 64)) | set(range(8 + header_len - 16, 8 + header_len + 16)) |
                     set(np.linspace(0, len(data) - 1, 200).astype(int).tolist()))
    path = tmp_path / "t.safetensors"
    for n in offsets:
        path.write_bytes(data[:n])
        assert load_or_model_file_error(path) is None, n


def test_seeded_bit_flips_never_crash(good_file, tmp_path):
    data = bytearray(good_file.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    rng = np.random.default_rng(2024)
    path = tmp_path / "f.safetensors"
    loaded = rejected = 0
    for trial in range(600):
        damaged = bytearray(data)
        # Half the flips land in the header (JSON, names, shapes, offsets), half in the tensor data.
        lo, hi = (0, 8 + header_len) if trial % 2 else (8 + header_len, len(data))
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(lo, hi))
            damaged[i] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(damaged))
        model = load_or_model_file_error(path)
        if model is None:
            rejected += 1
            continue
        loaded += 1
        model.validate()  # what loads is consistent: it could be saved again as is
        for t in model.tensors.values():
            if isinstance(t, QuantizedMatrix):
                x = rng.standard_normal((2, t.shape[1])).astype(np.float32)
                assert np.isfinite(t.to_float()).all() and t.matmul(x).shape == (2, t.shape[0])
    # Flips in float data mostly load (a different but valid model); header flips mostly do not.
    assert loaded > 25 and rejected > 100


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_never_crashes(good_file, tmp_path, data):
    raw = bytearray(good_file.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        i = data.draw(st.integers(0, len(raw) - 1))
        if kind == "flip":
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set":
            raw[i] = data.draw(st.integers(0, 255))
        elif kind == "truncate":
            del raw[i:]
        elif kind == "insert":
            raw[i:i] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del raw[i:i + data.draw(st.integers(1, 16))]
        if not raw:
            break
    path = tmp_path / "h.safetensors"
    path.write_bytes(bytes(raw))
    model = load_or_model_file_error(path)
    if model is not None:
        model.validate()


# --- edgeasr info -------------------------------------------------------------------------------------------------
def test_info_json(good_file, capsys):
    assert cli_main(["info", str(good_file), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    model = make_model()
    assert d["architecture"]["d_model"] == 8 and d["vocab_size"] == 6 and d["features"]["subsampling"] == 3
    rows = {r["name"]: r for r in d["tensors"]}
    assert set(rows) == set(ARCH.tensor_shapes())
    q = model.tensors["encoder.layers.0.weight_hr_l0"]
    assert rows["encoder.layers.0.weight_hr_l0"] == {
        "name": "encoder.layers.0.weight_hr_l0", "format": "sparse_q8", "shape": [8, 20], "parameters": 160,
        "nonzeros": q.nonzeros, "bytes": q.nbytes}
    assert rows["decoder.conv.weight"]["format"] == "float32" and rows["decoder.conv.weight"]["bytes"] == 6 * 2 * 4
    total = sum(int(np.prod(s)) for s in ARCH.tensor_shapes().values())
    assert d["totals"]["parameters"] == total
    assert d["totals"]["nonzeros"] == sum(r["nonzeros"] for r in d["tensors"]) < total
    assert d["totals"]["file_bytes"] == good_file.stat().st_size > d["totals"]["bytes"]


def test_info_text(good_file, capsys):
    assert cli_main(["info", str(good_file)]) == 0
    out = capsys.readouterr().out
    assert "lstm_transducer: 2 LSTM layers, d_model 8, hidden 20" in out
    assert "subsampling 3 (one encoder step per 30 ms)" in out and "vocabulary    6 tokens" in out
    assert any(line.startswith("encoder.layers.0.weight_hr_l0") and "sparse_q8" in line and "8 x 20" in line
               for line in out.splitlines())
    assert f"file {good_file.stat().st_size} bytes" in out


def test_info_on_a_bad_file_is_one_line_and_exit_1(tmp_path, capsys):
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 20)
    assert cli_main(["info", str(tmp_path / "bad.safetensors")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("edgeasr info: error: ") and "bad.safetensors" in err and err.count("\n") == 1


def test_info_piped_into_a_reader_that_stops_early_exits_quietly(good_file):
    # `edgeasr info model | head -1`: the reader closes the pipe; no traceback, exit status 0
    proc = subprocess.Popen([sys.executable, "-m", "edgeasr.cli", "info", str(good_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err
