"""The papers' evaluation protocols as named test-set recipes for ``scripts/make_testset.py``.

Each protocol is one or more subsets {name: (gt_size, degradation options)}; every image of a subset is
degraded with the generator seeded by (seed, image index), so a protocol, a seed and the HQ images fix
every byte of the test set.
"""

MPCNET_OUT = {'type': 'mpcnet_blind', 'out_size': 512}


def _mpcnet_fixed(**fixed):
    """MPCNet's eq. (1) with some parameters pinned (degenerate ranges) for the sweeps of section 4.4."""
    return dict(MPCNET_OUT, **fixed)


PROTOCOLS = {
    # CelebA-Test-style blind sets: 512 px, each paper's training degradation (MPCNet 4.1, PVFR 4.1, GCFSR 4)
    'mpcnet_celeba_test': {'celeba_test': (512, MPCNET_OUT)},
    'pvfr_celeba_test': {'celeba_test': (512, {'type': 'pvfr_blind', 'out_size': 512})},
    # (GFPGAN's colour jitter is a training augmentation, not part of its CelebA-Test degradation)
    'gcfsr_blind_celeba_test': {'celeba_test': (512, {'type': 'gfpgan_blind', 'color_jitter_prob': 0})},
    # bicubic FSR sets: CFGPFSSR 16x LR (1024 -> 64, paper 4.1); GCFSR 16x/32x/64x at 1024 (Table 1)
    'cfgpfssr_x16': {'x16': (1024, {'type': 'cfgpfssr_bicubic'})},
    'gcfsr_bicubic': {f'x{s}': (1024, {'type': 'multiscale_bicubic', 'factors': [s]}) for s in (16, 32, 64)},
    # W-Net: 128 px HR, 32 px (x4) / 16 px (x8) LR upsampled back to 128 px (paper 4.2)
    'wnet_x4_x8': {f'x{s}': (128, {'type': 'wnet_bicubic', 'scale': s}) for s in (4, 8)},
    # MPCNet Table 4: x4..x8 face SR incl. the non-integer factors of Figs. 9-10; bicubic only (no blur,
    # noise or JPEG), as the table is labelled "face super-resolution"
    'mpcnet_scale_sweep': {
        f'x{s:g}': (512, _mpcnet_fixed(blur_types=[], scale_range=[s, s], noise_range=[0, 0], compression_range=None))
        for s in (4, 5, 6, 6.5, 7, 7.15, 8)
    },
    # MPCNet Table 6: CelebA-Test with the noise level pinned to 0, 5, ..., 25 (other parameters drawn)
    'mpcnet_noise_sweep': {f'noise{n}': (512, _mpcnet_fixed(noise_range=[n, n])) for n in range(0, 30, 5)},
    # MPCNet Table 5: noise-free, 4 Gaussian widths and 4 motion directions at kernel width 10; decision:
    # x4 bicubic down/up and no JPEG, so that only the kernel differs between columns
    'mpcnet_blur_sweep': dict(
        {f'gaussian{w}': (512, _mpcnet_fixed(blur_types=['gaussian'], gaussian_size=[w, w], scale_range=[4, 4],
                                             noise_range=[0, 0], compression_range=None)) for w in (3, 7, 11, 15)},
        **{f'motion{a}': (512, _mpcnet_fixed(blur_types=['motion'], motion_length=[10, 10], motion_angle=[a, a],
                                             scale_range=[4, 4], noise_range=[0, 0], compression_range=None))
           for a in (0, 45, 90, 135)}),
}

