"""Loading pretrained weights from explicit local files: one clear error, never a download."""
import os

import torch


# Checkpoint entry describing the network its weights belong to: {'type': registry name, **constructor options},
# plain Python values only (loads with weights_only=True); pretrained-file options are None (the weights are in
# the checkpoint). Written by training saves and scripts/convert_weights.py, read by inference.
NETWORK_KEY = 'network'


class MissingWeightsError(FileNotFoundError):
    """A pretrained weight file the configuration names does not exist."""


def require_file(path, what, how_to_get):
    """Return ``path`` if it is an existing file, else raise :class:`MissingWeightsError`.

    Args:
        path (str | None): The file the option or argument names.
        what (str): The network the file is for, e.g. 'VGG16 (perceptual loss)'.
        how_to_get (str): Where the public file comes from and the command that converts it, or the
            option file that trains it.
    """
    if not path:
        raise MissingWeightsError(f'No weight file given for {what}. {how_to_get}')
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise MissingWeightsError(f'Weight file for {what} not found: {path}. {how_to_get}')
    return path


def load_state_dict(path, what, how_to_get, param_key=None, map_location='cpu'):
    """Load a state dict with ``weights_only=True`` (pickled code in a checkpoint is refused).

    Args:
        path (str): Checkpoint file.
        what (str): The network it is for (for error messages).
        how_to_get (str): How to obtain the file (for error messages).
        param_key (str | None): Key holding the state dict (e.g. 'params_ema'); None takes the file as is,
            or its 'params_ema' / 'params' / 'state_dict' entry when present.
        map_location (str | torch.device): Where tensors land. Default: 'cpu'.

    Returns:
        dict[str, Tensor]: The state dict.
    """
    path = require_file(path, what, how_to_get)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors, truncated files, code objects refused by weights_only
        raise ValueError(f'Cannot load {what} weights from {path}: {err}. The file must be a PyTorch checkpoint '
                         'of tensors (loaded with weights_only=True; pickled code is refused).') from err
    if param_key is not None:
        if param_key not in ckpt:
            raise KeyError(f'{path} has no {param_key!r} entry (it has: {sorted(ckpt)[:10]})')
        return ckpt[param_key]
    for key in ('params_ema', 'params', 'state_dict'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt
