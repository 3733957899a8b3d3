"""The pretrained parts a training or test run loads from files, checked at launch and named in the log.

The papers build their methods on networks trained elsewhere and loaded from files: the frozen StyleGAN2
priors (CFGPFSSR, MPCNet), PVFR's StyleGAN2 prior that it fine-tunes, the face parsing networks (CFGPFSSR,
MPCNet), and the loss networks (VGG, VGGFace, ArcFace). Their constructors accept no file (random weights), as
inference rebuilds them from a trained checkpoint that holds those weights; a training or test run with such a
part and no file would silently use random weights. :func:`check_priors` refuses that at launch unless the
option file says ``random_priors: true`` (tests, quick-start runs); :func:`prior_log_lines` states in the run's
log where each part came from.
"""
import hashlib
import os
from dataclasses import dataclass
from typing import Optional


from ..toolkit.errors import UserError

# top-level option that lets pretrained parts without a file keep random weights
RANDOM_PRIORS_KEY = 'random_priors'

# loss type -> what its pretrained network is ({vgg_type} filled from the block, default vgg19 / vgg16)
LOSS_PARTS = {
    'FacePerceptualLoss': ('vgg16', 'frozen {vgg_type} (perceptual loss)'),
    'FaceFeatureMatchingLoss': ('vgg19', 'frozen {vgg_type} (feature matching loss)'),
    'KeyRegionLoss': ('vgg19', 'frozen {vgg_type} (key-region loss)'),
    'FaceIdentityLoss': (None, 'frozen ArcFace (identity loss)'),
}
SHORT_HASH = 12  # hex digits of the SHA-256 shown in the log


@dataclass(frozen=True)
class PretrainedPart:
    """One pretrained part of a run: what it is, the option naming its file, the file (None: none given) and,
    for network parts, the trained checkpoint (``path.pretrain_network_g``) that supplies it instead."""

    what: str
    option: str
    path: Optional[str]
    checkpoint: Optional[str] = None


def _get(block, keys):
    for key in keys:
        if not isinstance(block, dict):
            return None
        block = block.get(key)
    return block


def network_pretrained_files(network_type):
    """The architecture's ``pretrained_file_options``: (option path, what it is, enabling switch or None) per
    file it loads at construction; none for an unknown or unregistered type."""
    from basicsr.utils.registry import ARCH_REGISTRY
    try:
        return getattr(ARCH_REGISTRY.get(network_type), 'pretrained_file_options', ())
    except KeyError:
        return ()


def pretrained_parts(opt, is_train):
    """The pretrained parts ``opt`` builds: those of ``network_g`` and, when training, of the loss networks.

    Args:
        opt (dict): The parsed option file.
        is_train (bool): Training (the ``train`` losses are built) or testing.

    Returns:
        list[PretrainedPart]
    """
    parts = []
    network = opt.get('network_g') or {}
    checkpoint = (opt.get('path') or {}).get('pretrain_network_g')
    for keys, what, switch in network_pretrained_files(network.get('type')):
        if switch is None or network.get(switch, True):  # every such switch is on by default
            parts.append(PretrainedPart(what, 'network_g.' + '.'.join(keys), _get(network, keys), checkpoint))
    if is_train:
        for key, block in (opt.get('train') or {}).items():
            if not (key.endswith('_opt') and isinstance(block, dict) and block.get('type') in LOSS_PARTS):
                continue
            if block['type'] == 'KeyRegionLoss' and not block.get('perceptual_weight', 1.0):
                continue  # no perceptual term: no VGG
            default_vgg, what = LOSS_PARTS[block['type']]
            parts.append(PretrainedPart(what.format(vgg_type=block.get('vgg_type', default_vgg)),
                                        f'train.{key}.weights_path', block.get('weights_path')))
    return parts


def check_priors(opt, is_train, source='the option file'):
    """Refuse a run that would give a pretrained part random weights, unless ``random_priors: true``.

    A network part is supplied by its own file or by the trained checkpoint ``path.pretrain_network_g``; a loss
    network only by its own file.

    Args:
        opt (dict): The parsed option file.
        is_train (bool): Training or testing.
        source (str): How the option file is named in the message. Default: 'the option file'.

    Raises:
        UserError: A part has no file and ``random_priors`` is not true; names the option to set.
    """
    allowed = opt.get(RANDOM_PRIORS_KEY, False)
    if not isinstance(allowed, bool):
        raise UserError(f'{source}: {RANDOM_PRIORS_KEY} must be true or false, got {allowed!r}')
    for part in pretrained_parts(opt, is_train):
        if part.path is not None and not os.path.isfile(os.path.expanduser(part.path)):
            raise UserError(f'{source}: {part.option} names a missing file: {part.path} (the {part.what}; '
                            'see weights/README.md)')
        if part.path is None and part.checkpoint is None and not allowed:
            also = ' (or path.pretrain_network_g, a trained checkpoint holding it)' if part.option.startswith(
                'network_g.') else ''
            raise UserError(f'{source}: the {part.what} has no file: set {part.option}{also} to its weights '
                            f'(see weights/README.md), or set {RANDOM_PRIORS_KEY}: true at the top level to run '
                            'it with random weights (tests only)')


def short_sha256(path, chunk=1 << 20):
    """The first ``SHORT_HASH`` hex digits of a file's SHA-256."""
    digest = hashlib.sha256()
    with open(os.path.expanduser(path), 'rb') as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:SHORT_HASH]


def prior_log_lines(opt, is_train):
    """One line per pretrained part: the file it was loaded from (with a short SHA-256), the trained checkpoint
    that supplies it, or random weights (``random_priors: true``)."""
    lines = []
    for part in pretrained_parts(opt, is_train):
        if part.path is not None:
            source = f'loaded from {part.path} (sha256 {short_sha256(part.path)}, {part.option})'
            if part.checkpoint is not None:
                source += f', then replaced by path.pretrain_network_g {part.checkpoint}'
        elif part.checkpoint is not None:
            source = f'from the trained checkpoint {part.checkpoint} (sha256 {short_sha256(part.checkpoint)})'
        else:
            source = f'RANDOM weights ({part.option} is empty; {RANDOM_PRIORS_KEY}: true)'
        lines.append(f'Pretrained part: {part.what}: {source}')
    return lines
