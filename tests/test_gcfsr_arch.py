"""GCFSR architecture: paper parameter counts, shapes, the factor's effect, variants and ablations."""
import pytest
import torch

from facesr_arch.archs.gcfsr_arch import GCFSR


def count(model):
    return sum(p.numel() for p in model.parameters())


def tiny(**kwargs):
    torch.manual_seed(0)
    return GCFSR(**{'out_size': 64, 'narrow': 0.0625, 'num_style_feat': 32, **kwargs}).eval()


def test_parameter_counts_at_paper_configurations():
    # Table 1 reports 66.69M for the 1024 model
    assert count(GCFSR(out_size=1024)) == pytest.approx(66.69e6, rel=1e-3)
    assert count(GCFSR(out_size=512)) == 62_352_925
    assert count(GCFSR(out_size=512, blind=True)) == 88_698_653


def test_shapes_and_latent_count():
    model = tiny()
    assert model.num_latent == 6  # levels 64, 32, 16: two codes each (eq. 2-3)
    out = model(torch.randn(3, 3, 64, 64), torch.tensor([16.0, 32.0, 64.0]))
    assert out.shape == (3, 3, 64, 64)
    assert torch.isfinite(out).all()


def test_factor_changes_output_continuously():
    model = tiny()
    x = torch.randn(1, 3, 64, 64)
    noise = [torch.zeros(1, 1, s, s) for s in (16, 32, 32, 64, 64)]
    with torch.no_grad():
        outs = {s: model(x, torch.tensor([float(s)]), noise=noise) for s in (4, 16, 24, 64)}
    assert not torch.allclose(outs[4], outs[64], atol=1e-4)
    # continuous control (section 3.6): an intermediate factor lands between its neighbours
    d_mid = (outs[24] - outs[16]).abs().mean()
    d_far = (outs[64] - outs[16]).abs().mean()
    assert 0 < d_mid < d_far
    # same factor, same noise: deterministic
    assert torch.equal(model(x, torch.tensor([16.0]), noise=noise), outs[16])


def test_factor_norm_lives_in_the_network():
    """The network takes the raw factor s and divides it by its own ``factor_norm`` (paper 3.5): the same weights
    with factor_norm 32 at s = 8 give what factor_norm 64 gives at s = 16 (condition 0.25 both)."""
    model = tiny()
    half = tiny(factor_norm=32)
    half.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 64, 64)
    noise = [torch.zeros(1, 1, s, s) for s in (16, 32, 32, 64, 64)]
    with torch.no_grad():
        torch.testing.assert_close(half(x, 8.0, noise=noise), model(x, 16.0, noise=noise))


def test_feature_modulation_scales_are_positive_and_unit_norm():
    model = tiny()
    factor = torch.tensor([[0.5]])
    enc, gen = model.condition_scale2[0](factor), model.condition_scale1[0](factor)
    enc, gen = enc.abs(), gen.abs()
    norm = torch.rsqrt(enc**2 + gen**2 + 1e-8)
    assert torch.allclose((enc * norm)**2 + (gen * norm)**2, torch.ones_like(enc), atol=1e-5)


def test_blind_variant_ignores_factor():
    model = tiny(blind=True)
    x = torch.randn(2, 3, 64, 64)
    noise = [torch.zeros(2, 1, s, s) for s in (16, 32, 32, 64, 64)]
    with torch.no_grad():
        assert torch.equal(model(x, noise=noise), model(x, torch.tensor([0.1, 0.9]), noise=noise))


@pytest.mark.parametrize('kwargs', [{'style_modulation': False}, {'positive_scales': False}, {'use_noise': False},
                                    {'min_feat_size': 32}])
def test_ablations_build_and_run(kwargs):
    model = tiny(**kwargs)
    assert model(torch.randn(1, 3, 64, 64), 0.25).shape == (1, 3, 64, 64)


def test_bad_inputs_raise_clear_errors():
    model = tiny()
    with pytest.raises(ValueError, match='64x64'):
        model(torch.randn(1, 3, 32, 32), 0.25)
    with pytest.raises(ValueError, match='factor'):
        model(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match='powers of two'):
        GCFSR(out_size=100)
