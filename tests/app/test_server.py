"""The REST API (``genlab serve``) in-process: what each endpoint answers, that it gives the same
results as the CLI and the library, and that every limit and bad request gets a 4xx JSON answer."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from genlab import provenance  # noqa: E402
from genlab.app import service  # noqa: E402
from genlab.app.limits import Limits  # noqa: E402
from genlab.app.server import Admission, APIError, create_app  # noqa: E402

from cli_helpers import run_cli  # noqa: E402


def Client(app, **kwargs) -> TestClient:
    """A test client that reaches the server as a browser on this machine does (``Host: localhost``)."""
    return TestClient(app, base_url="http://localhost", **kwargs)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, session_text_file):
    root = tmp_path_factory.mktemp("served")
    commands = {
        "vae": ("train", "vae", "--data", "digits", "--steps", "3", "--set", "hidden=[16]"),
        "lstm": ("train", "lstm", "--data", f"text:{session_text_file}", "--steps", "3", "--set", "hidden_size=16",
                 "--set", "embedding_dim=8", "--set", "block_size=16"),
        "sr": ("train", "sr-cnn", "--data", "digits-sr", "--data-arg", "scale=2", "--steps", "2", "--set", "width=8",
               "--set", "blocks=1"),
    }
    for name, argv in commands.items():
        code, out, err = run_cli(*argv, "--out", root / name, "--eval-every", "2", "--progress", "false")
        assert code == 0, err
    return root


@pytest.fixture(scope="module")
def client(runs):
    app = create_app([runs / "vae", runs / "lstm", runs / "sr"], limits=Limits(max_samples=8, max_upload_bytes=20_000,
                                                                               max_image_pixels=64 * 64))
    return Client(app, raise_server_exceptions=False)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def fetch_png(client, url) -> np.ndarray:
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(r.content)))


def assert_error(r, status: int, field: str | None, *needles: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "field"} and body["field"] == field, body
    for needle in needles:
        assert needle in body["error"], body


def test_models_lists_each_run_with_what_it_takes(client, runs):
    body = client.get("/api/models").json()
    by_id = {m["id"]: m for m in body["models"]}
    assert list(by_id) == ["vae", "lstm", "sr"]
    vae, lstm, sr = by_id["vae"], by_id["lstm"], by_id["sr"]
    saved = json.loads((runs / "vae" / "best" / "config.json").read_text())
    assert vae["family"] == "vae" and vae["likelihood"] == "bound" and vae["kind"] == "image"
    assert vae["weights_sha256"] == saved["weights_sha256"] and vae["step"] == saved["step"]
    assert vae["tasks"] == ["generate", "inpaint", "interpolate", "evaluate"] and "temperature" in vae["sample_args"]
    assert "nelbo" in vae["metrics"]  # the last validation row of metrics.jsonl
    assert lstm["likelihood"] == "exact" and "prompt" in lstm["sample_args"] and lstm["reads_as_text"]
    assert vae["scorable"] and not lstm["scorable"] and not sr["scorable"]  # no sample scorer for text; sr: the truth
    assert lstm["sample_args"]["max_new_tokens"] == {"default": 200, "type": "int"}
    assert sr["tasks"] == ["superres", "evaluate"]
    assert body["limits"]["max_samples"] == 8
    assert client.get("/api/models/vae").json() == vae
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/api/models/{model_id}/generate",
                                                                   "/api/models/{model_id}/inpaint"}
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert "swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text  # its scripts are served here: offline
    script = docs.text.split('src="', 1)[1].split('"', 1)[0] if 'src="' in docs.text else ""
    assert script.endswith("swagger-ui-bundle.js") and client.get(script).status_code == 200


def test_generate_gives_the_library_samples_with_provenance(client, runs):
    r = client.post("/api/models/vae/generate", json={"num": 4, "seed": 3, "temperature": 0.5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [f["name"] for f in body["files"]] == ["samples.png"]
    got = fetch_png(client, body["files"][0]["url"])
    model, _ = service.load_model(runs / "vae")
    expected = service.draw_samples(model, 4, seed=3, temperature=0.5, mode="mean")  # shown: the decoder's mean
    reference = runs / "reference.png"
    service.write_samples(model, expected, reference)
    assert np.array_equal(got, np.asarray(Image.open(reference)))  # the same pixels as the library's, seed for seed
    rec = body["provenance"]
    assert rec["synthetic"] and rec["seed"] == 3 and rec["sampling"] == {"temperature": 0.5, "mode": "mean", "num": 4}
    stored = runs / "vae" / "served" / body["request"] / "samples.png"
    full = provenance.read(stored).record  # the file itself carries the record, with the run's folder
    assert full["generator"]["run"] == str((runs / "vae").resolve())
    assert rec == {**full, "generator": {**full["generator"], "run": "vae", "weights": "best"}}  # no server paths
    again = client.get(f"/api/requests/vae/{body['request']}").json()
    assert again["provenance"] == rec and again["files"] == body["files"]


def test_text_generation_continues_the_prompt(client):
    r = client.post("/api/models/lstm/generate", json={"num": 2, "prompt": "the ", "max_new_tokens": 12, "seed": 1})
    assert r.status_code == 200, r.text
    texts = r.json()["text"].split("\n-----\n")
    assert len(texts) == 2 and all(t.startswith("the ") and len(t) == 4 + 12 for t in texts), texts


def test_inpaint_with_an_uploaded_mask_matches_the_cli(client, runs, tmp_path):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (8, 8)).astype(np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[4:, :] = 255
    (tmp_path / "p.png").write_bytes(png_bytes(picture))
    (tmp_path / "m.png").write_bytes(png_bytes(mask))
    r = client.post("/api/models/vae/inpaint", files={"image": ("p.png", png_bytes(picture), "image/png"),
                                                      "mask": ("m.png", png_bytes(mask), "image/png")},
                    data={"num": "2", "seed": "4"})
    assert r.status_code == 200, r.text
    served = {f["name"]: fetch_png(client, f["url"]) for f in r.json()["files"]}
    assert set(served) == {"inpainted.png", "mask.png", "masked.png"}
    from genlab.runs import catalog

    assert r.json()["provenance"]["source"] == "p.png"  # the record answered, stamped and recorded is one
    assert catalog.open_registry().get_sample(r.json()["samples"][0])["source"] == "p.png"
    code, out, err = run_cli("inpaint", runs / "vae", tmp_path / "p.png", "--mask", tmp_path / "m.png", "--num", "2",
                             "--seed", "4", "--out", tmp_path / "cli")
    assert code == 0, err
    for name, array in served.items():
        assert np.array_equal(array, np.asarray(Image.open(tmp_path / "cli" / name))), name


def test_superres_and_evaluate_match_the_library(client, runs):
    picture = np.random.default_rng(1).integers(0, 256, (6, 7)).astype(np.uint8)
    r = client.post("/api/models/sr/superres", files={"image": ("p.png", png_bytes(picture), "image/png")})
    assert r.status_code == 200, r.text
    big = fetch_png(client, r.json()["files"][0]["url"])
    assert big.shape == (12, 14)
    r = client.post("/api/models/vae/evaluate", json={"max_examples": 10, "iw_samples": 4, "seed": 2})
    assert r.status_code == 200, r.text
    model, _ = service.load_model(runs / "vae")
    torch.manual_seed(2)
    expected = service.evaluate_likelihood(model, service.run_data(runs / "vae", model), None, 4, 10)
    assert r.json()["result"]["nll_nats"] == pytest.approx(expected["nll_nats"], rel=1e-6)


@pytest.mark.parametrize("path, body, status, field, needle", [
    ("/api/models/vae/generate", {"num": 9}, 413, "num", "at most 8"),
    ("/api/models/vae/generate", {"num": "many"}, 422, "num", "integer"),
    ("/api/models/vae/generate", {"num": 0}, 422, "num", "greater than or equal to 1"),
    ("/api/models/vae/generate", {"nmu": 2}, 422, "nmu", "unknown field"),
    ("/api/models/vae/generate", {"top_p": 2}, 422, "top_p", "less than or equal to 1"),
    ("/api/models/vae/generate", {"sample_args": {"mode": 3}}, 400, None, "mode"),
    ("/api/models/vae/generate", {"sample_args": {"bogus": 1}}, 400, None, "does not take the sample argument"),
    ("/api/models/vae/generate", {"condition": 1}, 400, None, "condition"),
    ("/api/models/lstm/generate", {"max_new_tokens": 10_000}, 413, "max_new_tokens", "at most 512"),
    ("/api/models/nope/generate", {}, 404, "model", "vae, lstm, sr"),
    ("/api/models/sr/generate", {}, 400, "model", "/api/models/sr/superres"),
    ("/api/models/vae/evaluate", {"max_examples": 5000}, 413, "max_examples", "at most 1,000"),
    ("/api/models/vae/evaluate", {"split": "train"}, 422, "split", "pattern"),
])
def test_bad_requests_get_a_json_4xx_naming_the_field(client, path, body, status, field, needle):
    assert_error(client.post(path, json=body), status, field, needle)


def test_bad_uploads_are_refused_with_the_field_named(client):
    big = np.random.default_rng(0).integers(0, 256, (200, 200)).astype(np.uint8)  # incompressible: over 20,000 bytes
    cases = [
        ("/api/models/sr/superres", {"image": ("x.png", b"not a picture", "image/png")}, 400, "image", "not a readable"),
        ("/api/models/sr/superres", {"image": ("x.png", png_bytes(big), "image/png")}, 413, "image", "20,000 bytes"),
        ("/api/models/sr/superres", {"image": ("x.png", png_bytes(np.zeros((80, 80))), "image/png")}, 413, "image",
         "80x80"),
        ("/api/models/sr/superres", {"image": ("x.png", png_bytes(np.zeros((8, 8)))[:40], "image/png")}, 400, "image",
         "not a readable"),
        ("/api/models/vae/superres", {"image": ("x.png", png_bytes(np.zeros((8, 8))), "image/png")}, 400, "model",
         "does not enlarge"),
        ("/api/models/lstm/inpaint", {"image": ("x.png", png_bytes(np.zeros((8, 8))), "image/png")}, 400, "model",
         "cannot inpaint"),
    ]
    for path, files, status, field, needle in cases:
        assert_error(client.post(path, files=files), status, field, needle)
    r = client.post("/api/models/vae/inpaint", files={"image": ("x.png", png_bytes(np.zeros((8, 8))), "image/png")})
    assert r.status_code == 400 and "give one of" in r.json()["error"]  # no mask: the CLI's own message
    assert_error(client.get("/api/files/vae/20261206T000000-00000000/..%2Fconfig.json"), 404, "name")
    assert_error(client.get("/api/files/vae/not-an-id/samples.png"), 404, "request")


def test_a_token_is_needed_on_every_request_when_set(runs):
    client = Client(create_app([runs / "vae"], token="s3cret"), raise_server_exceptions=False)
    assert_error(client.get("/api/models"), 401, "token", "Bearer")
    assert_error(client.get("/api/models", headers={"Authorization": "Bearer wrong"}), 401, "token")
    assert client.get("/api/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert_error(client.get("/api/models", params={"token": "s3cret"}), 401, "token")  # never in an API address
    first = client.get("/", params={"token": "s3cret"}, follow_redirects=False)  # the playground's address...
    assert first.status_code == 303 and first.headers["location"] == "/"  # ...leaves the URL (and its history)
    assert "genlab_token" in first.headers["set-cookie"] and "samesite=strict" in first.headers["set-cookie"].lower()
    assert client.get("/", params={"token": "s3cret"}).status_code == 200  # followed: the page, with the cookie
    assert client.get("/api/models").status_code == 200  # so the page's own requests (and images) pass
    assert Client(create_app([runs / "vae"], token="s3cret")).get("/").status_code == 401
    for empty in ("", "  "):  # what --token "$SECRET" gives when SECRET is unset: refused, not an open server
        with pytest.raises(Exception, match="token is empty"):
            create_app([runs / "vae"], token=empty)
    from cli_helpers import assert_one_line_error

    assert_one_line_error(*run_cli("serve", runs / "vae", "--token", ""), "token is empty")


def test_another_site_cannot_drive_the_server(client, runs, tmp_path):
    """DNS rebinding (a foreign Host) and cross-site posts (a foreign Origin) are refused before any
    work, and every answer carries the security headers."""
    before = sorted(p.name for p in (runs / "vae" / "served").glob("*")) if (runs / "vae" / "served").is_dir() else []
    picture = png_bytes(np.zeros((8, 8)))
    assert_error(client.get("/api/models", headers={"Host": "evil.example"}), 421, "host", "--allow-host")
    assert_error(client.get("/api/models", headers={"Host": "evil.example:8000"}), 421, "host")
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "http://localhost:9999"}):  # another port is another origin
        r = client.post("/api/models/vae/inpaint", files={"image": ("p.png", picture, "image/png")},
                        data={"mask_kind": "bottom", "num": "1"}, headers=headers)
        assert_error(r, 403, "origin", "this server's own pages")
        assert_error(client.post("/api/models/vae/generate", json={"num": 1}, headers=headers), 403, "origin")
    after = sorted(p.name for p in (runs / "vae" / "served").glob("*")) if (runs / "vae" / "served").is_dir() else []
    assert after == before  # nothing written
    same = client.post("/api/models/vae/generate", json={"num": 1}, headers={"Origin": "http://localhost"})
    assert same.status_code == 200, same.text  # the playground's own requests
    assert client.get("/api/models", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    for url in ("/", "/api/models", "/api/models/nothing", "/docs"):
        headers = client.get(url).headers
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" not in client.get("/").headers["content-security-policy"]
    wide = Client(create_app([runs / "vae"], hosts=["genlab.lan"]), raise_server_exceptions=False)
    assert wide.get("/api/health", headers={"Host": "genlab.lan:8000"}).status_code == 200
    assert wide.get("/api/health").status_code == 421  # only the names it was given


def test_uploads_are_removed_and_never_served(client, runs, tmp_path):
    picture = png_bytes(np.random.default_rng(1).integers(0, 256, (8, 8)))
    r = client.post("/api/models/vae/inpaint", files={"image": ("mine.png", picture, "image/png")},
                    data={"mask_kind": "bottom", "num": "1"})
    assert r.status_code == 200, r.text
    folder = runs / "vae" / "served" / r.json()["request"]
    assert folder.is_dir() and not list(folder.glob("input*"))  # answered: the upload has gone
    assert r.json()["provenance"]["source"] == "mine.png"
    kept = Client(create_app([runs / "vae"], keep_uploads=True), raise_server_exceptions=False)
    r = kept.post("/api/models/vae/inpaint", files={"image": ("mine.png", picture, "image/png")},
                  data={"mask_kind": "bottom", "num": "1"})
    rid = r.json()["request"]
    assert (runs / "vae" / "served" / rid / "input.png").read_bytes() == picture  # kept for the server's owner...
    assert_error(kept.get(f"/api/files/vae/{rid}/input.png"), 404, "name")  # ...and for no client


def test_the_time_limit_stops_sampling_with_a_408(runs):
    client = Client(create_app([runs / "lstm"], limits=Limits(timeout_s=1e-6)), raise_server_exceptions=False)
    assert_error(client.post("/api/models/lstm/generate", json={"num": 1, "max_new_tokens": 50}), 408, None,
                 "time limit")
    assert client.get("/api/health").json()["running"] == 0  # the slot was given back


def test_a_full_queue_is_answered_503_with_retry_after():
    async def scenario():
        admission = Admission(concurrency=1, queue=1)
        release = asyncio.Event()

        async def hold():
            async with admission.slot():
                await release.wait()

        first, second = asyncio.create_task(hold()), asyncio.create_task(hold())
        await asyncio.sleep(0.01)
        assert (admission.running, admission.waiting) == (1, 1)
        with pytest.raises(APIError) as refused:
            async with admission.slot():
                pass
        release.set()
        await asyncio.gather(first, second)
        return refused.value, admission

    error, admission = asyncio.run(scenario())
    assert error.status == 503 and int(error.headers["Retry-After"]) >= 1 and "busy" in error.message
    assert (admission.running, admission.waiting) == (0, 0)


def test_bad_limits_and_runs_are_one_line_errors(runs, tmp_path):
    from cli_helpers import assert_one_line_error

    assert_one_line_error(*run_cli("serve", runs / "vae", "--max-samples", "0"), "max_samples", "--max-samples")
    assert_one_line_error(*run_cli("serve", runs / "vae", "--port", "70000"), "--port")
    assert_one_line_error(*run_cli("serve", tmp_path / "nothing"))
    import socket

    with socket.socket() as busy:  # another program on the port: one line, and no address printed before it
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        assert_one_line_error(*run_cli("serve", runs / "vae", "--port", busy.getsockname()[1]), "cannot listen",
                              "--port")


def test_generated_files_are_in_the_registry_and_served_from_it(runs, tmp_path):
    from genlab.runs import catalog

    db = tmp_path / "registry.sqlite3"
    code, _, err = run_cli("features", "train", "--data", "digits", "--steps", "5", "--out", tmp_path / "feat")
    assert code == 0, err
    client = Client(create_app([runs / "vae"], registry=db, features=str(tmp_path / "feat")),
                        raise_server_exceptions=False)
    r = client.post("/api/models/vae/generate", json={"num": 16, "seed": 2, "tags": ["keep"], "score": True})
    assert r.status_code == 200, r.text
    body = r.json()
    (sample_id,) = body["samples"]
    path = runs / "vae" / "served" / body["request"] / "samples.png"
    row = catalog.open_registry(db).get_sample(sample_id)
    assert Path(row["path"]) == path.resolve() and row["tags"] == ["keep"] and row["seed"] == 2
    assert row["sha256"] == catalog.sha256_file(path)
    assert row["scores"] == body["scores"] and "fid" in body["scores"]
    assert body["score_info"]["num_samples"] == 16 and body["score_info"]["feature_net"]

    assert [s["id"] for s in client.get("/api/samples", params={"tag": "keep"}).json()["samples"]] == [sample_id]
    assert [s["id"] for s in client.get("/api/samples", params={"run": "vae"}).json()["samples"]] == [sample_id]
    high = body["scores"]["fid"] + 1
    assert client.get("/api/samples", params={"max_score": f"fid={high}"}).json()["samples"][0]["id"] == sample_id
    assert client.get("/api/samples", params={"min_score": f"fid={high}"}).json()["samples"] == []
    assert client.get(f"/api/samples/{sample_id}").json()["exists"] is True
    assert client.get(f"/api/samples/{sample_id}/file").content == path.read_bytes()
    tagged = client.post(f"/api/samples/{sample_id}/tags", json={"tags": ["best"]}).json()
    assert tagged["tags"] == ["best", "keep"] or sorted(tagged["tags"]) == ["best", "keep"]
    assert_error(client.get("/api/samples", params={"min_score": "fid"}), 422, "min_score", "NAME=NUMBER")
    assert_error(client.get("/api/samples/ffffffffffffffff"), 404, "sample")
    path.unlink()
    assert client.get(f"/api/samples/{sample_id}").json()["exists"] is False
    assert_error(client.get(f"/api/samples/{sample_id}/file"), 404, "sample", "has gone")


def test_search_finds_the_uploaded_training_picture_and_serves_it(client, monkeypatch, tmp_path, digits):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    from genlab.data.modalities.image import levels_to_uint8

    picture = levels_to_uint8(digits.train.images[123], 17)[0].numpy()  # as the server shows an example
    r = client.post("/api/models/vae/search", files={"query": ("q.png", png_bytes(picture), "image/png")},
                    data={"k": "3"})
    assert r.status_code == 200, r.text
    neighbours = r.json()["neighbours"]
    assert [n["rank"] for n in neighbours] == [1, 2, 3]
    assert neighbours[0]["index"] == 123 and neighbours[0]["distance"] < 1e-6
    assert neighbours[0] == {**service.search("digits", _saved(tmp_path, picture), 1)[0],
                             "url": "/api/examples/vae/train/123"}
    assert np.array_equal(fetch_png(client, neighbours[0]["url"]), picture)
    r = client.post("/api/models/lstm/search", files={"query": ("q.txt", b"a bad cab faced a dead bee", "text/plain")})
    assert r.status_code == 200, r.text
    assert r.json()["neighbours"][0]["text"].startswith("a bad cab faced a dead bee") and "url" not in r.json()[
        "neighbours"][0]
    r = client.post("/api/models/vae/search", files={"query": ("q.png", png_bytes(picture), "image/png")},
                    data={"k": "0"})
    assert r.status_code == 422 and r.json()["field"] == "k"
    r = client.get("/api/examples/vae/train/5000")
    assert r.status_code == 400 and "index must be between 0 and 999" in r.json()["error"]


def _saved(tmp_path, picture) -> str:
    path = tmp_path / "q.png"
    path.write_bytes(png_bytes(picture))
    return str(path)


@pytest.mark.parametrize("sample_args, field, needle", [
    ({"seed": 1}, "sample_args.seed", "field of its own"),
    ({"generator": 1}, "sample_args.generator", "not a sample argument"),
])
def test_sample_args_that_would_bypass_a_limit_or_collide_are_refused(client, sample_args, field, needle):
    assert_error(client.post("/api/models/lstm/generate", json={"num": 1, "sample_args": sample_args}), 422, field,
                 needle)


def test_sequence_settings_may_be_sample_args_and_keep_their_limits(client):
    """temperature, top_k, top_p and max_new_tokens are listed among a model's sample arguments: they are
    taken there as well as as fields (once), and the token limit holds either way."""
    as_field = client.post("/api/models/lstm/generate", json={"num": 1, "seed": 2, "max_new_tokens": 8,
                                                               "temperature": 0.7})
    as_arg = client.post("/api/models/lstm/generate", json={"num": 1, "seed": 2, "sample_args": {
        "max_new_tokens": 8, "temperature": 0.7}})
    assert as_field.status_code == as_arg.status_code == 200, as_arg.text
    assert as_field.json()["text"] == as_arg.json()["text"]
    assert_error(client.post("/api/models/lstm/generate", json={"num": 1, "sample_args": {"max_new_tokens": 10**6}}),
                 413, "sample_args.max_new_tokens", "at most")
    assert_error(client.post("/api/models/lstm/generate", json={"num": 1, "temperature": 1,
                                                                 "sample_args": {"temperature": 1}}),
                 422, "temperature", "given twice")
    vae = client.post("/api/models/vae/generate", json={"num": 2, "seed": 3, "sample_args": {"temperature": 0.8}})
    assert vae.status_code == 200, vae.text  # the README's example


def test_a_body_of_unknown_size_is_refused(client):
    r = client.post("/api/models/vae/generate", content=iter([b'{"num": 1}']),
                    headers={"Content-Type": "application/json"})
    assert_error(r, 411, None, "Content-Length")


def test_a_refused_upload_leaves_nothing_behind(client, runs):
    before = set((runs / "sr" / "served").glob("*")) if (runs / "sr" / "served").is_dir() else set()
    for files in ({"image": ("x.png", b"not a picture", "image/png")},
                  {"image": ("x.gif", _gif(), "image/gif")}):  # a picture, but not PNG or JPEG
        r = client.post("/api/models/sr/superres", files=files)
        assert r.status_code == 400 and r.json()["field"] == "image"
    after = set((runs / "sr" / "served").glob("*")) if (runs / "sr" / "served").is_dir() else set()
    assert after == before


def _gif() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="GIF")
    return buffer.getvalue()


def test_only_samples_of_served_runs_are_shown_or_changed(runs, tmp_path):
    from genlab.runs import catalog

    db = tmp_path / "registry.sqlite3"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = elsewhere / "secret.png"
    secret.write_bytes(png_bytes(np.zeros((4, 4))))
    rec = {"generator": {"run": None, "weights_sha256": None, "model": "vae"}, "seed": 0, "sampling": {"prompt": "x"}}
    registry = catalog.open_registry(db)
    (sample_id,) = registry.record_files(elsewhere, [secret], rec)
    client = Client(create_app([runs / "vae"], registry=db), raise_server_exceptions=False)
    r = client.post("/api/models/vae/generate", json={"num": 1, "seed": 5})
    (own,) = r.json()["samples"]
    listed = client.get("/api/samples").json()["samples"]
    assert [s["id"] for s in listed] == [own]  # the unserved run's sample is not listed
    assert listed[0]["model"] == "vae" and listed[0]["file"] == f"served/{r.json()['request']}/samples.png"
    assert listed[0]["url"] == f"/api/samples/{own}/file"
    assert str(tmp_path) not in json.dumps(listed) and str(runs) not in json.dumps(listed)  # no path of this machine
    assert str(runs) not in client.get(f"/api/samples/{own}").text and str(runs) not in client.get("/api/models").text
    assert_error(client.get("/api/samples", params={"run": str(elsewhere)}), 404, "model")  # a path is no model id
    assert_error(client.get(f"/api/samples/{sample_id}"), 404, "sample")
    assert_error(client.get(f"/api/samples/{sample_id}/file"), 404, "sample")
    log = elsewhere / "samples.jsonl"
    before = log.read_bytes()
    assert_error(client.post(f"/api/samples/{sample_id}/tags", json={"tags": ["mine"]}), 404, "sample")
    assert log.read_bytes() == before and registry.get_sample(sample_id)["tags"] == []  # nothing written
    assert client.post(f"/api/samples/{own}/tags", json={"tags": ["mine"]}).json()["tags"] == ["mine"]


def test_sample_arg_values_are_checked_against_the_defaults_types():
    from genlab.app.server import coerce_sample_args

    class Model:
        def sample(self, num_samples, condition=None, generator=None, eta: float = 0.0, steps: int = 50,
                   clip: bool = True, sampler=None):
            pass

    model = Model()
    assert coerce_sample_args(model, {"eta": "0.5", "steps": 20.0, "clip": "false", "sampler": "ddim"}) == {
        "eta": 0.5, "steps": 20, "clip": False, "sampler": "ddim"}
    assert coerce_sample_args(model, {"sampler": "3"}) == {"sampler": 3}  # untyped text that reads as a number

    class Annotated:
        def sample(self, num_samples, condition=None, generator=None, length: int | None = None,
                   scale: "float | None" = None):
            pass

    from genlab.app.server import sample_arg_specs

    assert sample_arg_specs(Annotated()) == {"length": {"default": None, "type": "int"},
                                             "scale": {"default": None, "type": "float"}}
    with pytest.raises(APIError, match="must be an int"):
        coerce_sample_args(Annotated(), {"length": "long"})
    for args, needle in (({"eta": 10 ** 400}, "must be a float"), ({"steps": 2.5}, "must be an int"),
                         ({"steps": "many"}, "must be an int"), ({"clip": 1}, "must be a bool"),
                         ({"eta": float("nan")}, "must be a float")):
        with pytest.raises(APIError) as refused:
            coerce_sample_args(model, args)
        assert refused.value.status == 422 and needle in refused.value.message


def test_audio_music_and_video_models_answer_with_playable_files(tmp_path, tiny_pianoroll):
    """WAV files for audio, MIDI files (and the piano roll) for music, an animated GIF for video: each
    stamped with its provenance and served with its media type."""
    rolls = tiny_pianoroll.info.name.split(":", 1)[1]
    commands = {
        "wavenet": ("wavenet", "--data", "synthetic-tones", "--data-arg", "num=30", "--data-arg", "length=256",
                    "--set", "channels=8", "--set", "gate_channels=8", "--set", "skip_channels=8",
                    "--set", "layers_per_stack=2", "--set", "stacks=1"),
        "roll": ("lstm-roll", "--data", f"rolls:{rolls}", "--set", "hidden_size=8", "--set", "seq_len=8"),
        "clips": ("video-gan", "--data", "moving-digits", "--data-arg", "num_train=16", "--data-arg", "num_test=8",
                  "--set", "content_dim=6", "--set", "motion_dim=4", "--set", "generator_channels=[8,4]",
                  "--set", "discriminator_channels=[4,8]", "--set", "frame_discriminator_channels=[4,8]"),
    }
    for name, argv in commands.items():
        code, _, err = run_cli("train", *argv, "--steps", "1", "--batch-size", "4", "--out", tmp_path / name,
                               "--progress", "false")
        assert code == 0, err
    client = Client(create_app([tmp_path / n for n in commands]), raise_server_exceptions=False)
    expected = {"wavenet": ("audio/wav", ".wav", 2), "roll": ("audio/midi", ".mid", 2), "clips": ("image/gif", ".gif", 1)}
    for name, (media, suffix, count) in expected.items():
        body = {"num": 2, "sample_args": {"length": 64}} if name == "wavenet" else {"num": 2}
        if name == "roll":
            body["sample_args"] = {"num_steps": 8}
        r = client.post(f"/api/models/{name}/generate", json=body)
        assert r.status_code == 200, r.text
        if name in ("wavenet", "roll"):  # a sample's length is capped before any memory is taken
            key = "length" if name == "wavenet" else "num_steps"
            huge = client.post(f"/api/models/{name}/generate", json={"num": 1, "sample_args": {key: 10**9}})
            assert_error(huge, 413, f"sample_args.{key}", "at most 160,000")
        files = [f for f in r.json()["files"] if f["name"].endswith(suffix)]
        assert len(files) == count and all(f["media_type"] == media for f in files), r.json()["files"]
        got = client.get(files[0]["url"])
        assert got.status_code == 200 and got.headers["content-type"].startswith(media)
        stored = tmp_path / name / "served" / r.json()["request"] / files[0]["name"]
        assert got.content == stored.read_bytes()
        alone = tmp_path / f"alone-{name}{suffix}"  # the file without its sidecar: the record is inside it too
        alone.write_bytes(got.content)
        assert provenance.read(alone).source == {".wav": "wav", ".mid": "midi", ".gif": "gif"}[suffix]
        example = client.get(f"/api/examples/{name}/train/1")  # a training example, as its modality writes it
        assert example.status_code == 200 and example.headers["content-type"].startswith(media), example.text
        data = service.run_data(tmp_path / name, service.load_model(tmp_path / name)[0])
        check_example(name, example.content, data, tmp_path)


def test_a_piano_roll_prompt_is_content_never_a_server_path(tmp_path, tiny_pianoroll):
    """Over HTTP a piano-roll prompt is notes in the body or a base64 MIDI file: a path on the server
    (/etc/passwd, or a MIDI file of the server's) is read as notes and refused, never opened."""
    import base64

    from genlab.data.modalities.pianoroll import write_midi

    rolls = tiny_pianoroll.info.name.split(":", 1)[1]
    code, _, err = run_cli("train", "lstm-roll", "--data", f"rolls:{rolls}", "--set", "hidden_size=8", "--set",
                           "seq_len=8", "--steps", "1", "--batch-size", "4", "--out", tmp_path / "roll",
                           "--progress", "false")
    assert code == 0, err
    client = Client(create_app([tmp_path / "roll"]), raise_server_exceptions=False)
    server_midi = tmp_path / "server.mid"
    roll = torch.zeros(4, 88, dtype=torch.uint8)
    roll[:, 39] = 1  # middle C held for four steps
    write_midi(roll, server_midi, 1)
    body = {"num": 1, "sample_args": {"num_steps": 6}}
    for path in ("/etc/passwd", str(server_midi)):
        assert_error(client.post("/api/models/roll/generate", json={**body, "prompt": path}), 400, None,
                     "not a list of MIDI pitches")
    assert_error(client.post("/api/models/roll/generate", json={**body, "prompt": ";;"}), 400, None, "no notes")
    assert_error(client.post("/api/models/roll/generate", json={**body, "prompt": "60; 200"}), 400, None, "piano")
    notes = client.post("/api/models/roll/generate", json={**body, "prompt": "60 64 67; 62 65"})
    assert notes.status_code == 200, notes.text
    encoded = "data:audio/midi;base64," + base64.b64encode(server_midi.read_bytes()).decode()
    uploaded = client.post("/api/models/roll/generate", json={**body, "prompt": encoded})
    assert uploaded.status_code == 200, uploaded.text
    assert_error(client.post("/api/models/roll/generate", json={**body, "prompt": "data:audio/midi;base64,bm90"}),
                 400, None, "not a MIDI file")
    import mido

    long = mido.MidiFile(ticks_per_beat=1)  # 37 bytes that claim 134 million beats
    track = mido.MidiTrack()
    long.tracks.append(track)
    track.append(mido.Message("note_on", note=60, velocity=64, time=0))
    track.append(mido.Message("note_off", note=60, time=2**27))
    buffer = io.BytesIO()
    long.save(file=buffer)
    encoded = "data:audio/midi;base64," + base64.b64encode(buffer.getvalue()).decode()
    r = client.post("/api/models/roll/generate", json={**body, "prompt": encoded})
    assert_error(r, 400, None, "the MIDI prompt lasts", "over the limit")  # refused before any memory is taken
    assert "/tmp" not in r.text


def test_every_error_is_the_documented_json(client):
    assert_error(client.get("/api/nothing"), 404, None, "no endpoint", "/docs")
    assert_error(client.delete("/api/models"), 405, None, "does not take DELETE")
    assert_error(client.get("/static/nothing.js"), 404, None)
    assert_error(client.post("/api/models/vae/generate", json={"num": 1, "temperature": 1e308}),
                 400, None, "temperature", "[0, 100]")  # was a 500


def test_errors_name_no_path_of_the_server(client, runs):
    """An upload the model cannot use, and an unknown sample: the messages say what is wrong without the
    server's folders (the upload's request folder, the registry's file)."""
    notes = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(notes, format="PNG")
    r = client.post("/api/models/vae/inpaint", files={"image": ("p.png", notes.getvalue(), "image/png"),
                                                      "mask": ("m.png", png_bytes(np.zeros((4, 4))), "image/png")})
    assert r.status_code == 400 and "mask" in r.json()["error"], r.text  # the mask is not the picture's size
    missing = client.get("/api/samples/abcdef")
    assert missing.status_code == 404
    for answer in (r, missing):
        assert str(runs) not in answer.text and str(runs.resolve()) not in answer.text, answer.text
        assert "/tmp" not in answer.text and "registry.sqlite3" not in answer.text, answer.text


def check_example(name: str, content: bytes, data, tmp_path: Path) -> None:
    """The served example is training example 1 itself, read back by an independent reader."""
    if name == "wavenet":
        import soundfile

        from genlab.data.modalities.audio import mu_law_decode

        wave, rate = soundfile.read(io.BytesIO(content), dtype="float64")
        expected = mu_law_decode(data.train.codes[1].long()).numpy()
        assert rate == data.info.rate and np.allclose(wave, expected, atol=1 / 2**15)  # 16-bit PCM
    elif name == "roll":
        import mido

        path = tmp_path / "example.mid"
        path.write_bytes(content)
        starts = sorted({m.note for m in mido.MidiFile(path).tracks[-1] if m.type == "note_on" and m.velocity > 0})
        expected = sorted({21 + int(k) for k in data.train.rolls[1].nonzero()[:, 1]})
        assert starts == expected
    else:
        frames = Image.open(io.BytesIO(content))
        clip = data.train.get(torch.tensor([1]))["x"][0]
        assert frames.n_frames == clip.shape[0] and frames.size == (clip.shape[-1], clip.shape[-2])
        first = np.asarray(frames.convert("L"))
        assert np.array_equal(first, clip[0, 0].numpy())  # grey frames keep their values exactly
