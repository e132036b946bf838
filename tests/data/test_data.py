"""Data sets: digits, MNIST files and their checks, downloads, image folders and text files."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
import torch

import genlab
from genlab.cli import main
from genlab.data import CharTokenizer
from genlab.data.download import MNIST_FILES, REMOTE, RemoteDataSet, RemoteFile, content_sha256, md5sum
from genlab.data.text import UNKNOWN

# ---- digits ---------------------------------------------------------------------------------------


def test_digits_splits_and_levels(digits):
    info = digits.info
    assert (len(digits.train), len(digits.val), len(digits.test)) == (1000, 350, 447)
    assert info.shape == (1, 8, 8) and info.levels == 17 and info.num_classes == 10 and info.kind == "image"
    assert info.dims == 64
    for split in (digits.train, digits.val, digits.test):
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (1, 8, 8)
        assert int(split.images.max()) <= 16
        assert split.labels.dtype == torch.long and set(split.labels.unique().tolist()) <= set(range(10))
    assert int(digits.train.images.max()) == 16 and int(digits.train.images.min()) == 0
    batch = digits.train.get(torch.tensor([0, 5]))
    assert batch["x"].shape == (2, 1, 8, 8) and batch["y"].shape == (2,)


def test_digits_is_unshuffled_and_fixed():
    from sklearn.datasets import load_digits

    raw = load_digits()
    data = genlab.load_dataset("digits")
    assert torch.equal(data.test.images[:, 0].long(), torch.from_numpy(raw.images[-447:].astype(np.int64)))
    assert torch.equal(data.train.labels, torch.from_numpy(raw.target[:1000]))


def test_unknown_dataset_and_split(digits):
    with pytest.raises(genlab.DataError, match="unknown data set 'cifar'"):
        genlab.load_dataset("cifar")
    with pytest.raises(genlab.DataError, match="unknown split"):
        digits.split("dev")
    with pytest.raises(genlab.ConfigError, match="takes no options"):
        genlab.load_dataset("digits", size=3)
    with pytest.raises(genlab.ConfigError, match="Did you mean 'size'"):
        genlab.load_dataset("images:/nowhere", sise=3)
    with pytest.raises(genlab.ConfigError, match="'train_fraction' expects float"):
        genlab.load_dataset("text:/nowhere", train_fraction="most")
    assert set(genlab.list_datasets()) >= {"digits", "mnist", "tinyshakespeare", "images:PATH", "text:PATH"}


def test_data_info_round_trip(digits, text_data):
    for info in (digits.info, text_data.info):
        assert genlab.DataInfo.from_dict(info.to_dict()) == info
    with pytest.raises(genlab.DataError, match="no image shape"):
        _ = text_data.info.dims


# ---- MNIST ---------------------------------------------------------------------------------------
def test_mnist_default_splits(mnist_root):
    data = genlab.load_dataset("mnist", root=mnist_root)
    assert (len(data.train), len(data.val), len(data.test)) == (55000, 5000, 10000)
    assert data.info.shape == (1, 28, 28) and data.info.levels == 256 and data.info.num_classes == 10
    assert data.train.images.dtype == torch.uint8 and int(data.train.images.max()) == 255
    assert data.train.images.shape == (55000, 1, 28, 28)
    assert data.test.labels.shape == (10000,)


def test_mnist_options(mnist_root):
    data = genlab.load_dataset("mnist", root=mnist_root, val_size=0)
    assert len(data.train) == 60000 and data.val is None and len(data.test) == 10000
    with pytest.raises(genlab.DataError, match="no val split"):
        data.split("val")
    binary = genlab.load_dataset("mnist-binary", root=mnist_root, val_size=100)
    assert binary.info.levels == 2 and binary.info.name == "mnist-binary"
    assert set(binary.test.images.unique().tolist()) == {0, 1}
    assert len(binary.train) == 59900
    with pytest.raises(genlab.DataError, match="val_size"):
        genlab.load_dataset("mnist", root=mnist_root, val_size=60000)


def test_mnist_from_genlab_data_env(mnist_root, monkeypatch):
    monkeypatch.setenv("GENLAB_DATA", str(mnist_root))
    assert len(genlab.load_dataset("mnist").test) == 10000


def fake_mnist_root(tmp_path, source=None):
    """A data root with MNIST file names; contents copied from ``source`` when given."""
    folder = tmp_path / "root" / "mnist"
    folder.mkdir(parents=True)
    for f in MNIST_FILES:
        if source is not None:
            shutil.copy(source / "mnist" / f.name, folder / f.name)
    return tmp_path / "root"


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_mnist_file_names_file_and_hash(tmp_path, damage, mnist_root, no_data_env):
    root = fake_mnist_root(tmp_path, mnist_root)
    target = root / "mnist" / "t10k-labels-idx1-ubyte.gz"
    if damage == "garbage":
        target.write_bytes(b"this is not an IDX file" * 10)
    else:
        target.write_bytes((mnist_root / "mnist" / target.name).read_bytes()[:1000])
    with pytest.raises(genlab.DataError) as info:
        genlab.load_dataset("mnist", root=root)
    msg = str(info.value)
    assert str(target) in msg and "\n" not in msg
    if damage == "garbage":
        assert content_sha256(target) in msg
        assert "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" in msg
    else:
        assert "cannot be decompressed" in msg
    assert "genlab data download mnist" in msg


def test_recompressed_or_decompressed_mnist_is_accepted(tmp_path, mnist_root, no_data_env):
    """The check is on the decompressed content: another gzip header or no gzip at all still loads."""
    root = fake_mnist_root(tmp_path, mnist_root)
    folder = root / "mnist"
    labels = folder / "train-labels-idx1-ubyte.gz"
    raw = gzip.decompress(labels.read_bytes())
    recompressed = gzip.compress(raw, compresslevel=1, mtime=12345)  # a different header and stream
    assert recompressed != labels.read_bytes()
    labels.write_bytes(recompressed)
    images = folder / "t10k-images-idx3-ubyte.gz"
    (folder / "t10k-images-idx3-ubyte").write_bytes(gzip.decompress(images.read_bytes()))
    images.unlink()
    data = genlab.load_dataset("mnist", root=root, val_size=100)
    original = genlab.load_dataset("mnist", root=mnist_root, val_size=100)
    assert torch.equal(data.test.images, original.test.images)
    assert torch.equal(data.train.labels, original.train.labels)
    # the decompressed file is checked as well: damaging it is refused
    plain = folder / "t10k-images-idx3-ubyte"
    plain.write_bytes(plain.read_bytes()[:-1] + b"\x01")
    with pytest.raises(genlab.DataError, match="corrupt or not the original release"):
        genlab.load_dataset("mnist", root=root)


def test_content_hash_ignores_the_container(tmp_path, monkeypatch, no_data_env):
    """Without the real files: a hash recorded for the content matches every form of it."""
    content = b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(range(5))
    import hashlib

    digest = hashlib.sha256(content).hexdigest()
    from genlab.data.download import verified_path

    remote = RemoteDataSet("toy", ("https://example.invalid/",), (RemoteFile("toy.gz", "0" * 32, digest),))
    monkeypatch.setitem(REMOTE, "toy", remote)
    folder = tmp_path / "toy"
    folder.mkdir()
    for form in (gzip.compress(content, mtime=1), gzip.compress(content, compresslevel=9, mtime=2)):
        (folder / "toy.gz").write_bytes(form)
        assert verified_path(tmp_path, "toy", remote.files[0]) == folder / "toy.gz"
    (folder / "toy.gz").unlink()
    (folder / "toy").write_bytes(content)
    assert verified_path(tmp_path, "toy", remote.files[0]) == folder / "toy"
    from genlab.data.images import read_idx

    assert read_idx(folder / "toy").tolist() == [0, 1, 2, 3, 4]
    (folder / "toy").write_bytes(content + b"x")
    with pytest.raises(genlab.DataError, match="corrupt"):
        verified_path(tmp_path, "toy", remote.files[0])
    # no content hash recorded (as for Fashion-MNIST): accepted unchecked
    unchecked = RemoteFile("toy.gz", None, None)
    assert verified_path(tmp_path, "toy", unchecked) == folder / "toy"


def test_corrupt_mnist_without_real_files(tmp_path, no_data_env):
    """Even without the real files: garbage under the right names fails on its checksum."""
    root = fake_mnist_root(tmp_path)
    for f in MNIST_FILES:
        (root / "mnist" / f.name).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00\x00\x00\x02ab"))
    with pytest.raises(genlab.DataError, match="corrupt or not the original release") as info:
        genlab.load_dataset("mnist", root=root)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db" in str(info.value)


def test_missing_mnist_file_names_path_and_download_command(tmp_path, no_data_env):
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(genlab.DataError) as info:
        genlab.load_dataset("mnist", root=root)
    msg = str(info.value)
    assert str(root / "mnist" / "train-images-idx3-ubyte.gz") in msg
    assert "genlab data download mnist" in msg and "not found" in msg


def test_missing_file_via_env_root(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    with pytest.raises(genlab.DataError) as info:
        genlab.load_dataset("tinyshakespeare")
    assert str(tmp_path / "tinyshakespeare" / "input.txt") in str(info.value)
    assert "genlab data download tinyshakespeare" in str(info.value)


def test_read_idx_rejects_bad_files(tmp_path):
    from genlab.data.images import read_idx

    good = np.arange(12, dtype=np.uint8).reshape(3, 4)
    header = b"\x00\x00\x08\x02" + (3).to_bytes(4, "big") + (4).to_bytes(4, "big")
    (tmp_path / "ok.gz").write_bytes(gzip.compress(header + good.tobytes()))
    assert np.array_equal(read_idx(tmp_path / "ok.gz"), good)
    (tmp_path / "short").write_bytes(header + good.tobytes()[:-1])
    with pytest.raises(genlab.DataError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x00\x00\x09\x02" + header[4:] + good.tobytes())
    with pytest.raises(genlab.DataError, match="magic"):
        read_idx(tmp_path / "magic")
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(genlab.DataError, match="bad.gz"):
        read_idx(tmp_path / "bad.gz")


# ---- downloads -----------------------------------------------------------------------------------
@pytest.fixture
def offline_remote(monkeypatch):
    """Only the mirror is tried: the official URLs are replaced by a file:// URL that does not exist."""
    def only_mirror(name, tmp_path):
        remote = REMOTE[name]
        missing = (tmp_path / "no-such-mirror").as_uri() + "/"
        monkeypatch.setitem(REMOTE, name, RemoteDataSet(remote.folder, (missing,), remote.files))
    return only_mirror


def test_download_through_mirror(tmp_path, shakespeare_root, monkeypatch, capsys, offline_remote):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(shakespeare_root / "tinyshakespeare" / "input.txt", mirror / "input.txt")
    offline_remote("tinyshakespeare", tmp_path)
    monkeypatch.setenv("GENLAB_MIRROR", mirror.as_uri())
    root = tmp_path / "root"
    assert main(["data", "download", "tinyshakespeare", "--data-root", str(root)]) == 0
    target = root / "tinyshakespeare" / "input.txt"
    assert capsys.readouterr().out.strip() == str(target)
    assert md5sum(target) == "6fb458f1232090904fb40fe944165e91"
    assert not [p for p in target.parent.iterdir() if p != target], "temporary files left behind"
    data = genlab.load_dataset("tinyshakespeare", root=root)
    assert len(data.info.vocab) == 65
    # a second download finds the verified file and fetches nothing (the mirror is gone)
    shutil.rmtree(mirror)
    assert main(["data", "download", "tinyshakespeare", "--data-root", str(root)]) == 0


def test_download_rejects_wrong_checksum(tmp_path, monkeypatch, capsys, offline_remote):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "input.txt").write_text("First Citizen:\nNot quite the original.\n", encoding="utf-8")
    offline_remote("tinyshakespeare", tmp_path)
    monkeypatch.setenv("GENLAB_MIRROR", mirror.as_uri())
    root = tmp_path / "root"
    assert main(["data", "download", "tinyshakespeare", "--data-root", str(root)]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    # one error line (after the progress bar), naming the file and the checksum failure
    assert err_lines[-1].startswith("genlab: error: could not download input.txt")
    assert "checksum mismatch" in err_lines[-1]
    assert not any("Traceback" in line or line.startswith("  ") for line in err_lines)
    folder = root / "tinyshakespeare"
    assert not (folder / "input.txt").exists()
    assert list(folder.iterdir()) == [], "the rejected download was left on disk"


def test_download_replaces_a_corrupt_local_file(tmp_path, shakespeare_root, monkeypatch, offline_remote):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(shakespeare_root / "tinyshakespeare" / "input.txt", mirror / "input.txt")
    offline_remote("tinyshakespeare", tmp_path)
    monkeypatch.setenv("GENLAB_MIRROR", mirror.as_uri())
    target = tmp_path / "root" / "tinyshakespeare" / "input.txt"
    target.parent.mkdir(parents=True)
    target.write_text("damaged", encoding="utf-8")
    genlab.data.download.download("tinyshakespeare", tmp_path / "root", progress=False)
    assert md5sum(target) == "6fb458f1232090904fb40fe944165e91"


def test_download_unknown_name(tmp_path, capsys):
    assert main(["data", "download", "imagenet", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no download is known for 'imagenet'" in err and "mnist" in err


# ---- image folders -------------------------------------------------------------------------------
def write_png(path, size=(12, 10), mode="L", seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def test_grey_image_folder(tmp_path):
    for i in range(10):
        write_png(tmp_path / "imgs" / f"{i}.png", seed=i)
    data = genlab.load_dataset(f"images:{tmp_path / 'imgs'}", size=8)
    assert data.info.shape == (1, 8, 8) and data.info.levels == 256 and data.info.num_classes == 0
    assert (len(data.train), len(data.val), len(data.test)) == (8, 1, 1)
    assert data.train.images.dtype == torch.uint8 and data.train.labels is None
    assert "y" not in data.train.get(torch.tensor([0]))
    # every file lands in exactly one split
    all_images = torch.cat([data.train.images, data.val.images, data.test.images])
    assert len({bytes(im.numpy().tobytes()) for im in all_images}) == 10


def test_rgb_and_grey_mixed_folder_with_classes(tmp_path):
    folder = tmp_path / "imgs"
    for i in range(4):
        write_png(folder / "cats" / f"{i}.png", mode="RGB", size=(20, 14), seed=i)
        write_png(folder / "dogs" / f"{i}.png", mode="L", size=(9, 16), seed=10 + i)
    data = genlab.load_dataset(f"images:{folder}", size=6)
    assert data.info.shape == (3, 6, 6) and data.info.num_classes == 2
    labels = torch.cat([data.train.labels, data.val.labels, data.test.labels])
    assert sorted(labels.tolist()) == [0] * 4 + [1] * 4
    grey = genlab.load_dataset(f"images:{folder}", size=6, channels=1)
    assert grey.info.shape == (1, 6, 6)
    model = genlab.create_model("vae", data=data, hidden=[8], latent_dim=2)
    assert model.config.image_shape == [3, 6, 6] and model.config.levels == 256


def test_image_folder_errors(tmp_path):
    folder = tmp_path / "imgs"
    for i in range(3):
        write_png(folder / f"{i}.png", seed=i)
    bad = folder / "broken.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(genlab.DataError) as info:
        genlab.load_dataset(f"images:{folder}")
    assert str(bad) in str(info.value)
    with pytest.raises(genlab.DataError, match="does not exist"):
        genlab.load_dataset(f"images:{tmp_path / 'nope'}")
    with pytest.raises(genlab.DataError, match="is a file, not a folder"):
        genlab.load_dataset(f"images:{folder / '0.png'}")
    few = tmp_path / "few"
    write_png(few / "a.png")
    with pytest.raises(genlab.DataError, match="at least 3"):
        genlab.load_dataset(f"images:{few}")
    bad.unlink()
    with pytest.raises(genlab.DataError, match="channels"):
        genlab.load_dataset(f"images:{folder}", channels=2)


def write_bomb_png(path, side=15000):
    """A valid grey PNG of side x side pixels whose file is tiny (all zeros compress ~1000x)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp, row, parts = zlib.compressobj(9), bytes(side + 1), []
    for _ in range(side):
        parts.append(comp.compress(row))
    parts.append(comp.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts))
                     + chunk(b"IEND", b""))


def test_decompression_bomb_is_one_line_error(tmp_path, capsys):
    folder = tmp_path / "imgs"
    for i in range(3):
        write_png(folder / f"{i}.png", seed=i)
    bomb = folder / "huge.png"
    write_bomb_png(bomb)
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(genlab.DataError) as info:
        genlab.load_dataset(f"images:{folder}")
    msg = str(info.value)
    assert str(bomb) in msg and "15000x15000" in msg and f"{genlab.data.images.MAX_PIXELS:,}" in msg
    assert "max_pixels" in msg
    out = tmp_path / "run"
    assert main(["train", "vae", "--data", f"images:{folder}", "--steps", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genlab: error: ") and "huge.png" in err[0] and "15000x15000" in err[0]
    assert not out.exists()
    # the limit is explicit: a smaller one refuses ordinary images too, naming it
    bomb.unlink()
    with pytest.raises(genlab.DataError, match="over the limit of 100 "):
        genlab.load_dataset(f"images:{folder}", max_pixels=100)
    assert len(genlab.load_dataset(f"images:{folder}", max_pixels=120).train) == 1


# ---- text ----------------------------------------------------------------------------------------
def test_text_split_and_vocab(text_file):
    text = text_file.read_text(encoding="utf-8")
    data = genlab.load_dataset(f"text:{text_file}")
    n = int(len(text) * 0.9)
    assert len(data.train.tokens) == n and len(data.val.tokens) == len(text) - n
    assert data.test is None
    assert data.info.kind == "text" and data.info.vocab == sorted(set(text[:n]))
    tok = data.tokenizer
    assert tok.decode(data.train.tokens) == text[:n]
    assert tok.decode(data.val.tokens) == text[n:]
    windows = data.train.windows(17)
    assert len(windows) == n - 16
    batch = windows.get(torch.tensor([0, 3]))["x"]
    assert batch.shape == (2, 17) and tok.decode(batch[1]) == text[3:20]
    with pytest.raises(genlab.DataError, match="fewer than one window"):
        data.val.windows(len(text))


def test_tokenizer_round_trip_and_unknown_characters():
    tok = CharTokenizer.from_text("hello world", extra_text="hello there!")
    assert tok.vocab[-1] == UNKNOWN and tok.vocab[:-1] == sorted(set("hello world"))
    assert tok.decode(tok.encode("low hello")) == "low hello"
    # strict by default: every unknown character is named, in one line
    with pytest.raises(genlab.DataError, match="2 characters 'i' at position 1, '!' at position 2 not in") as info:
        tok.encode("hi!i")
    assert "\n" not in str(info.value)
    # lenient replacement only when asked for
    assert tok.decode(tok.encode("hi!", strict=False)) == "h" + UNKNOWN + UNKNOWN
    plain = CharTokenizer.from_text("abc", extra_text="cab")
    assert UNKNOWN not in plain.vocab
    with pytest.raises(genlab.DataError, match="'z' at position 2 not in the model's vocabulary"):
        plain.encode("abz", strict=False)  # nothing to replace it with
    with pytest.raises(genlab.DataError, match="repeated"):
        CharTokenizer(["a", "a"])


def test_text_with_unknown_characters_in_validation(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("ab" * 45 + "abcdxyzabc", encoding="utf-8")
    data = genlab.load_dataset(f"text:{path}")
    assert data.info.vocab == ["a", "b", UNKNOWN]
    unk = data.info.vocab.index(UNKNOWN)
    assert int((data.val.tokens == unk).sum()) == 6


def test_text_that_already_holds_the_replacement_character(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("ab\ufffd" * 30 + "abz", encoding="utf-8")
    data = genlab.load_dataset(f"text:{path}")
    assert data.info.vocab == ["a", "b", UNKNOWN]
    assert data.tokenizer.decode(data.val.tokens[-1:]) == UNKNOWN  # 'z' was never seen in training


@pytest.mark.parametrize("content", [b"", b"x"])
def test_empty_text_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(genlab.DataError, match="empty"):
        genlab.load_dataset(f"text:{path}")


def test_non_utf8_text_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\u00e9 au lait, cr\u00e8me br\u00fbl\u00e9e".encode("latin-1"))
    with pytest.raises(genlab.DataError, match="not UTF-8") as info:
        genlab.load_dataset(f"text:{path}")
    assert str(path) in str(info.value) and "offset 3" in str(info.value)


def test_missing_text_file(tmp_path):
    with pytest.raises(genlab.DataError, match="does not exist"):
        genlab.load_dataset(f"text:{tmp_path / 'missing.txt'}")


def test_utf8_text_with_multibyte_characters(tmp_path):
    path = tmp_path / "u.txt"
    path.write_text("\u00e9t\u00e9 \u2603 " * 20, encoding="utf-8")
    data = genlab.load_dataset(f"text:{path}")
    assert "\u2603" in data.info.vocab
    assert data.tokenizer.decode(data.train.tokens) == path.read_text(encoding="utf-8")[: len(data.train.tokens)]


def test_byte_order_mark_is_not_a_token(tmp_path):
    path = tmp_path / "bom.txt"
    text = "to be or not to be, that is the question. " * 4
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    data = genlab.load_dataset(f"text:{path}")
    assert "\ufeff" not in data.info.vocab
    assert data.tokenizer.decode(data.train.tokens) == text[: len(data.train.tokens)]
    assert len(data.train.tokens) + len(data.val.tokens) == len(text)


def test_tinyshakespeare(shakespeare_root):
    data = genlab.load_dataset("tinyshakespeare", root=shakespeare_root)
    assert data.info.name == "tinyshakespeare" and data.info.vocab_size == 65
    assert UNKNOWN not in data.info.vocab
    assert len(data.train.tokens) + len(data.val.tokens) == 1115394
    assert len(data.train.tokens) == int(1115394 * 0.9)
    assert data.tokenizer.decode(data.train.tokens[:14]) == "First Citizen:"


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_levels_and_grey_values_convert_to_the_nearest_and_back(levels):
    from genlab.data.modalities.image import levels_to_uint8, uint8_to_levels

    x = torch.arange(levels)
    grey = levels_to_uint8(x, levels)
    assert grey.dtype == torch.uint8 and int(grey[0]) == 0 and int(grey[-1]) == 255
    assert torch.equal(uint8_to_levels(grey, levels).long(), x)  # a level survives the round trip
    exact = x.double() * 255 / (levels - 1)
    assert (grey.double() - exact).abs().max() <= 0.5  # the nearest grey value
