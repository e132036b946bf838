"""The VAE: importance-weighted bounds, decoders, the discretized logistic, shapes, architectures."""

from __future__ import annotations

import math

import pytest
import torch

import genlab
from conftest import fast_train_config
from genlab.nn import discretized_logistic_log_prob, sample_discretized_logistic


@pytest.fixture(scope="module")
def trained_vae():
    """A small VAE (2-d latent) trained for a few hundred steps on digits (about a second)."""
    data = genlab.load_dataset("digits")
    torch.manual_seed(0)
    model = genlab.create_model("vae", data=data, hidden=[32], latent_dim=2)
    genlab.Trainer(model, data, fast_train_config(steps=300, batch_size=64, lr=3e-3, log_every=100)).fit()
    return model.eval(), data


def exact_log_prob_2d(model, x: torch.Tensor, n: int = 121, bound: float = 6.0) -> torch.Tensor:
    """log p(x) = log (integral of p(x|z) p(z) dz) by quadrature on a grid (2-d latent, categorical decoder)."""
    grid = torch.linspace(-bound, bound, n)
    z = torch.cartesian_prod(grid, grid)  # [Z, 2]
    with torch.no_grad():
        log_px_z = model.decoder_params(z).log_softmax(-1).reshape(len(z), -1).double()  # [Z, D * levels]
    onehot = torch.nn.functional.one_hot(x.reshape(len(x), -1).long(), model.config.levels).reshape(len(x), -1)
    log_lik = onehot.double() @ log_px_z.T  # [B, Z]: sum over pixels of log p(x_d | z)
    log_prior = -0.5 * (z.double() ** 2).sum(1) - math.log(2 * math.pi)
    return torch.logsumexp(log_lik + log_prior, dim=1) + 2 * math.log(float(grid[1] - grid[0]))


def test_iwae_bound_tightens_with_k(trained_vae):
    model, data = trained_vae
    means = {k: -genlab.evaluate(model, data, "test", seed=0, num_samples=k)["nll_nats"] for k in (1, 10, 100)}
    assert all(math.isfinite(v) for v in means.values())
    # mean importance-weighted bound over the 447 test images: ELBO <= IWAE-10 <= IWAE-100
    assert means[1] <= means[10] <= means[100], means
    assert means[1] < means[100]
    # and all of them are lower bounds on the true log-likelihood, which the 2-d latent lets us
    # compute by quadrature; the gap shrinks as K grows
    exact = float(exact_log_prob_2d(model, data.test.images).mean())
    assert means[100] <= exact + 0.02, (means, exact)
    assert exact - means[100] < exact - means[1]


def test_quadrature_reference_is_converged(trained_vae):
    model, data = trained_vae
    x = data.test.images[:32]
    coarse, fine = exact_log_prob_2d(model, x, n=61, bound=6.0), exact_log_prob_2d(model, x, n=121, bound=7.0)
    assert torch.allclose(coarse, fine, atol=0.05)


def test_elbo_of_log_prob_matches_training_objective(trained_vae):
    model, data = trained_vae
    x = data.test.images
    torch.manual_seed(1)
    elbo = float(model.log_prob(x, num_samples=1).mean())
    torch.manual_seed(1)
    with torch.no_grad():
        recon, kl = model.elbo_terms(x)
    elbo_direct = float((recon - kl).mean())
    assert abs(elbo_direct - elbo) < 0.05 * abs(elbo)


def test_iwae_chunking_does_not_change_the_bound(trained_vae):
    """Chunked importance samples give the unchunked result (same noise, up to float rounding)."""
    model, data = trained_vae
    x = data.test.images[:32]
    torch.manual_seed(3)
    whole = model.log_prob(x, num_samples=50, chunk=50)
    for chunk in (1, 7, None):  # None: sized by the memory budget
        torch.manual_seed(3)
        part = model.log_prob(x, num_samples=50, chunk=chunk)
        assert part.shape == (32,)
        torch.testing.assert_close(part, whole, rtol=1e-5, atol=1e-4)


def test_iwae_chunks_are_bounded_by_the_budget(trained_vae, monkeypatch):
    """With K = 1000 and a large batch no decoder pass sees more than CHUNK_ROWS latents."""
    import genlab.models.vae as vae_module

    model, data = trained_vae
    x = data.test.images[:300]
    rows = []
    decode = model.decoder_params
    monkeypatch.setattr(model, "decoder_params", lambda z, c=None: rows.append(len(z)) or decode(z, c))
    model.log_prob(x, num_samples=1000)
    assert max(rows) <= vae_module.CHUNK_ROWS and sum(rows) == 300 * 1000


def test_iwae_blocks_inside_a_chunk_do_not_change_the_bound(trained_vae, monkeypatch):
    """The decoder runs over blocks of latents (BLOCK_OUTPUTS) inside a chunk: any block size gives
    the same bound, and the categorical log-likelihood equals an independent cross-entropy."""
    import torch.nn.functional as F

    import genlab.models.vae as vae_module

    model, data = trained_vae
    x = data.test.images[:16]
    torch.manual_seed(4)
    whole = model.log_prob(x, num_samples=20, chunk=20)
    monkeypatch.setattr(vae_module, "BLOCK_OUTPUTS", 1)  # one latent per block
    torch.manual_seed(4)
    torch.testing.assert_close(model.log_prob(x, num_samples=20, chunk=20), whole, rtol=1e-5, atol=1e-4)
    with torch.no_grad():
        params = model.decoder_params(torch.randn(16, model.config.latent_dim))
    expected = -F.cross_entropy(params.permute(0, 4, 1, 2, 3), x.long(), reduction="none")
    torch.testing.assert_close(model.pixel_log_prob(x, params), expected, rtol=1e-5, atol=1e-5)


def test_evaluate_reports_the_standard_error_over_examples(trained_vae):
    model, data = trained_vae
    result = genlab.evaluate(model, data, "test", num_samples=5, seed=2, batch_size=10_000)  # one batch
    torch.manual_seed(2)  # the same noise evaluate draws, batch by batch (one batch here)
    nll = -model.log_prob(data.test.images, num_samples=5).double()
    assert result["nll_nats"] == pytest.approx(float(nll.mean()), rel=1e-6)
    import numpy as np

    values = nll.numpy()
    assert result["nll_se_nats"] == pytest.approx(np.std(values, ddof=1) / np.sqrt(len(values)), rel=1e-6)


def test_trained_vae_beats_an_untrained_one(trained_vae):
    model, data = trained_vae
    fresh = genlab.create_model("vae", data=data, hidden=[32], latent_dim=2).eval()
    trained = genlab.evaluate(model, data, "test", num_samples=5)["nll_nats"]
    untrained = genlab.evaluate(fresh, data, "test", num_samples=5)["nll_nats"]
    assert trained < untrained


@pytest.mark.parametrize("decoder", ["categorical", "logistic", "gaussian"])
def test_decoders_give_finite_log_prob(decoder, digits):
    model = genlab.create_model("vae", data=digits, hidden=[32], latent_dim=4, decoder=decoder)
    genlab.Trainer(model, digits, fast_train_config(steps=3)).fit()
    model.eval()
    logp = model.log_prob(digits.test.images[:8], num_samples=4)
    assert logp.shape == (8,) and torch.isfinite(logp).all()
    assert (logp < 0).all()
    x = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 8, 8) and int(x.min()) >= 0 and int(x.max()) <= 16


def binary_digits(digits) -> genlab.DataSet:
    """digits thresholded to 0/1 pixels: data with levels=2 for the Bernoulli decoder."""
    def split(s):
        return genlab.data.ImageSplit((s.images >= 8).to(torch.uint8), s.labels)

    info = genlab.DataInfo("digits-binary", "image", shape=(1, 8, 8), levels=2, num_classes=10)
    return genlab.DataSet(info, split(digits.train), split(digits.val), split(digits.test))


def test_bernoulli_decoder_on_binary_data(digits):
    data = binary_digits(digits)
    model = genlab.create_model("vae", data=data, hidden=[32], latent_dim=4, decoder="bernoulli")
    assert model.config.levels == 2
    genlab.Trainer(model, data, fast_train_config(steps=3)).fit()
    model.eval()
    logp = model.log_prob(data.test.images[:8], num_samples=4)
    assert logp.shape == (8,) and torch.isfinite(logp).all() and (logp < 0).all()
    x = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert set(x.unique().tolist()) <= {0, 1}


def test_bernoulli_decoder_on_17_levels_is_not_a_likelihood(digits):
    model = genlab.create_model("vae", data=digits, hidden=[32], latent_dim=4, decoder="bernoulli")
    # it still trains (BCE on grey values) ...
    genlab.Trainer(model, digits, fast_train_config(steps=2)).fit()
    # ... but scoring the 17-level data with it is refused
    with pytest.raises(genlab.GenlabError, match="Bernoulli"):
        model.log_prob(digits.test.images[:4])
    with pytest.raises(genlab.GenlabError):
        genlab.evaluate(model, digits, "test")


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_discretized_logistic_sums_to_one(levels):
    gen = torch.Generator().manual_seed(levels)
    n = 64
    mean = torch.rand(n, generator=gen) * 2.4 - 1.2  # some centres outside [-1, 1]
    log_scale = torch.rand(n, generator=gen) * 7.0 - 6.0  # scales from ~0.0025 to ~2.7
    x = torch.arange(levels)[:, None].expand(levels, n)
    logp = discretized_logistic_log_prob(x, mean.expand(levels, n), log_scale.expand(levels, n), levels)
    assert torch.isfinite(logp).all()
    assert (logp <= 1e-6).all()
    total = logp.double().exp().sum(0)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-3), total


def test_discretized_logistic_matches_cdf_differences():
    levels = 5
    mean, log_scale = torch.tensor(0.1), torch.tensor(-1.0)
    s = math.exp(-1.0)
    edges = [2 * k / (levels - 1) - 1 for k in range(levels)]
    half = 1 / (levels - 1)

    def cdf(v):
        return 1 / (1 + math.exp(-(v - 0.1) / s))

    expected = [cdf(edges[0] + half)]
    expected += [cdf(e + half) - cdf(e - half) for e in edges[1:-1]]
    expected += [1 - cdf(edges[-1] - half)]
    got = discretized_logistic_log_prob(torch.arange(levels), mean.expand(levels), log_scale.expand(levels), levels)
    assert torch.allclose(got.exp().double(), torch.tensor(expected, dtype=torch.double), atol=1e-6)


def test_discretized_logistic_sampler_matches_its_probabilities():
    levels = 5
    n = 20000
    mean = torch.full((n,), 0.2)
    log_scale = torch.full((n,), -0.7)
    draws = sample_discretized_logistic(mean, log_scale, levels, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=levels).double() / n
    probs = discretized_logistic_log_prob(torch.arange(levels), mean[:levels], log_scale[:levels], levels).exp()
    assert torch.allclose(freq, probs.double(), atol=0.02), (freq, probs)


def test_encode_decode_reconstruct_interpolate_shapes(digits):
    model = genlab.create_model("vae", data=digits, hidden=[32], latent_dim=5).eval()
    x = digits.test.images[:7]
    mean, logvar = model.encode(x)
    assert mean.shape == (7, 5) and logvar.shape == (7, 5)
    for mode in ("mean", "sample"):
        dec = model.decode(mean, mode=mode)
        assert dec.shape == (7, 1, 8, 8) and dec.dtype == torch.long
        assert int(dec.min()) >= 0 and int(dec.max()) <= 16
    with pytest.raises(genlab.ConfigError, match="mode"):
        model.decode(mean, mode="median")
    rec = model.reconstruct(x)
    assert rec.shape == x.shape and rec.dtype == torch.long
    assert torch.equal(rec, model.decode(mean))
    path = model.interpolate(x[0], x[1], steps=6)
    assert path.shape == (6, 1, 8, 8)
    assert torch.equal(path[0], model.decode(mean[:1])[0])
    assert torch.equal(path[-1], model.decode(mean[1:2])[0])
    assert model.decoder_params(mean).shape == (7, 1, 8, 8, 17)


def test_conditional_vae(digits):
    model = genlab.create_model("vae", data=digits, hidden=[32], latent_dim=4, conditional=True)
    genlab.Trainer(model, digits, fast_train_config(steps=2)).fit()
    model.eval()
    x, y = digits.test.images[:6], digits.test.labels[:6]
    logp = model.log_prob(x, condition=y, num_samples=3)
    assert logp.shape == (6,) and torch.isfinite(logp).all()
    assert model.sample(4, condition=torch.tensor(3)).shape == (4, 1, 8, 8)
    assert model.sample(4).shape == (4, 1, 8, 8)
    with pytest.raises(genlab.ConfigError):
        model.sample(4, condition=torch.tensor([10, 0, 0, 0]))
    with pytest.raises(genlab.ConfigError, match="unconditional"):
        genlab.create_model("vae", data=digits, hidden=[8]).sample(2, condition=torch.tensor(1))


@pytest.mark.parametrize("shape, channels", [((1, 8, 8), [8, 16]), ((1, 28, 28), [8, 16]),
                                             ((1, 28, 28), [4, 8, 8]), ((3, 7, 9), [8, 16])])
@pytest.mark.parametrize("decoder", ["categorical", "logistic"])
def test_conv_architecture_shapes(shape, channels, decoder):
    levels = 17
    info = genlab.DataInfo("synthetic", "image", shape=shape, levels=levels)
    model = genlab.create_model("vae", data=info, architecture="conv", conv_channels=channels, latent_dim=4,
                                decoder=decoder)
    x = torch.randint(0, levels, (3, *shape), generator=torch.Generator().manual_seed(0)).to(torch.uint8)
    out = model.training_step({"x": x}, step=0)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    assert model.decoder_params(torch.zeros(3, 4)).shape[:4] == (3, *shape)
    logp = model.log_prob(x, num_samples=2)
    assert logp.shape == (3,) and torch.isfinite(logp).all()
    assert model.sample(2).shape == (2, *shape)
    assert model.reconstruct(x).shape == x.shape


def test_conv_vae_trains_on_digits(digits):
    model = genlab.create_model("vae", data=digits, architecture="conv", conv_channels=[8, 16], latent_dim=4)
    summary = genlab.Trainer(model, digits, fast_train_config(steps=2)).fit()
    assert summary["steps"] == 2


@pytest.mark.parametrize("bad", [dict(image_shape=[8, 8]), dict(levels=1), dict(latent_dim=0),
                                 dict(iw_samples=0), dict(conditional=True)])
def test_invalid_vae_configs(bad):
    with pytest.raises(genlab.ConfigError):
        genlab.create_model("vae", **bad)


def test_default_widths_scale_with_the_data(digits):
    """The default MLP VAE on 32x32 RGB stays small; on digits it is the [256, 256] model as before."""
    from genlab.data import DataInfo

    rgb = DataInfo(name="rgb", kind="image", shape=(3, 32, 32), levels=256)
    big = genlab.create_model("vae", data=rgb)
    assert big.num_parameters() < 20_000_000
    assert big.config.hidden == [16, 16]  # recorded, so a saved model rebuilds the same network
    small = genlab.create_model("vae", data=digits)
    pinned = genlab.create_model("vae", data=digits, hidden=[256, 256])
    assert small.config.hidden == [256, 256] and small.num_parameters() == pinned.num_parameters()
    mnist = DataInfo(name="m", kind="image", shape=(1, 28, 28), levels=256)
    assert 16 <= genlab.create_model("vae", data=mnist).config.hidden[0] < 256
    assert genlab.create_model("vae", data=rgb, hidden=[64]).config.hidden == [64]  # explicit wins


def test_shown_samples_are_the_decoder_mean_unless_asked(tmp_path, digits):
    """Previews and `genlab sample` show the decoder's mean (per-pixel draws of a categorical decoder are
    salt-and-pepper noise); `--sample-arg mode=sample` draws every pixel; the provenance says which."""
    import numpy as np
    from PIL import Image

    from cli_helpers import run_cli
    from genlab import provenance
    from genlab.app import service

    run = tmp_path / "run"
    code, _, err = run_cli("train", "vae", "--steps", "2", "--set", "hidden=[16]", "--out", run, "--progress", "false")
    assert code == 0, err
    preview = next((run / "samples").glob("step-*.png"))
    assert provenance.read(preview).record["sampling"]["mode"] == "mean"
    for mode in ("mean", "sample"):
        args = ("--sample-arg", "mode=sample") if mode == "sample" else ()
        code, _, err = run_cli("sample", run, "--num", "4", "--seed", "2", "--out", tmp_path / f"{mode}.png", *args)
        assert code == 0, err
        assert provenance.read(tmp_path / f"{mode}.png").record["sampling"]["mode"] == mode
    model, _ = service.load_model(run)
    expected = tmp_path / "expected.png"
    service.write_samples(model, service.draw_samples(model, 4, seed=2, mode="mean"), expected)
    shown = np.asarray(Image.open(tmp_path / "mean.png"))
    assert np.array_equal(shown, np.asarray(Image.open(expected)))
    assert not np.array_equal(shown, np.asarray(Image.open(tmp_path / "sample.png")))


def test_sample_into_a_folder_writes_each_sample_at_its_own_size(tmp_path, digits):
    """`--out DIR`: one PNG per sample at the data's size (to feed to superres, inpaint or search), the
    same pixels as the library's samples, and a legible grid beside them; every file stamped."""
    import numpy as np
    from PIL import Image

    from cli_helpers import run_cli
    from genlab import provenance
    from genlab.app import service

    run = tmp_path / "run"
    code, _, err = run_cli("train", "vae", "--steps", "2", "--set", "hidden=[16]", "--out", run, "--progress", "false")
    assert code == 0, err
    code, out, err = run_cli("sample", run, "--num", "16", "--seed", "4", "--out", tmp_path / "each")
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "each").iterdir() if p.suffix == ".png")
    assert files == [f"sample-{i:03d}.png" for i in range(16)] + ["grid.png"] or sorted(files) == sorted(
        [f"sample-{i:03d}.png" for i in range(16)] + ["grid.png"])
    model, _ = service.load_model(run)
    samples = service.draw_samples(model, 16, seed=4, mode="mean")
    for i in (0, 15):
        with Image.open(tmp_path / "each" / f"sample-{i:03d}.png") as im:
            assert im.size == (8, 8)
            expected = np.round(samples[i, 0].numpy() * 255 / 16).astype(np.uint8)  # the nearest grey value
            assert np.array_equal(np.asarray(im), expected)
        assert provenance.read(tmp_path / "each" / f"sample-{i:03d}.png").record["command"] == "sample"
    with Image.open(tmp_path / "each" / "grid.png") as im:
        assert im.size == (4 * 65 + 1, 4 * 65 + 1)  # 8x8 digits enlarged 8x: legible
