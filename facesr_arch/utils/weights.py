"""Loading pretrained weights from explicit local files: one clear error, never a download."""
import os
import pickle
import warnings
import zipfile

import torch

from ..toolkit.errors import BadInputError, UnknownNameError, UserError


# Checkpoint entry describing the network its weights belong to: {'type': registry name, **constructor options},
# plain Python values only (loads with weights_only=True); pretrained-file options are None (the weights are in
# the checkpoint). Written by training saves and scripts/convert_weights.py, read by inference.
NETWORK_KEY = 'network'


class MissingWeightsError(UserError, FileNotFoundError):
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


def safe_load(path, what, map_location='cpu', mmap=False):
    """``torch.load(path, weights_only=True)`` with one-line errors.

    Args:
        path (str): Checkpoint file.
        what (str): What it is, for messages.
        map_location (str | torch.device): Where tensors land. Default: 'cpu'.
        mmap (bool): Map tensor data instead of reading it (cheap checks of large files; zip checkpoints only).

    Raises:
        ValueError: The file holds pickled Python objects (code), which are refused and not loaded; or it is
            not a PyTorch checkpoint (truncated, corrupt, another format). The message names the file.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # torch's notes on pickle protocols: noise next to the message
            return torch.load(path, map_location=map_location, weights_only=True,
                              mmap=mmap and zipfile.is_zipfile(path))
    except pickle.UnpicklingError:
        raise BadInputError(f'{path} ({what}) holds pickled Python objects (code), not only tensors: it was refused '
                            'and not loaded (running code from a checkpoint is never done). Use a checkpoint of '
                            'tensors: the ones training saves, or a public release converted by '
                            'scripts/convert_weights.py.') from None
    except Exception as err:  # truncated zip, not a torch file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BadInputError(f'{path} ({what}) is not a readable PyTorch checkpoint (truncated or corrupt?): '
                            f'{first[:200]}') from None


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
    ckpt = safe_load(path, f'{what} weights', map_location)
    if param_key is not None:
        if param_key not in ckpt:
            raise UnknownNameError(f'{path} has no {param_key!r} entry (it has: {sorted(ckpt)[:10]})')
        return ckpt[param_key]
    for key in ('params_ema', 'params', 'state_dict'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt
