"""What made a results folder: ``inference_manifest.json``, written before the first output.

A rerun continues a folder (skipping finished images) only when it was made with the same settings:
checkpoint (SHA-256 of the file), method, network options, checkpoint entry, factor / strength / size
controls, precision and mode. Otherwise outputs of two models would be mixed under one name, and
"already finished" would hide that nothing was computed. The manifest also lists the input images of
every run into the folder.
"""
import hashlib
import json
import os

from ..toolkit.errors import BadInputError
from ..toolkit.inputs import IMAGE_EXTENSIONS
from ..toolkit.outputs import atomic_write_bytes

MANIFEST = 'inference_manifest.json'


def file_sha256(path, chunk=1 << 22):
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def run_settings(block, weights, param_key, controls, **extra):
    """The settings that determine the outputs of a run, as plain JSON values.

    Args:
        block (dict): Network block ('type' + constructor options).
        weights (str): Checkpoint file.
        param_key (str | None): Checkpoint entry.
        controls (Controls): Factor / strength / size controls.
        **extra: Further settings that change outputs (precision, whole-image options, ...).
    """
    settings = {'method': block['type'], 'network': {k: v for k, v in block.items() if k != 'type'},
                'checkpoint_sha256': file_sha256(weights), 'param_key': param_key,
                'controls': {'upscale': controls.upscale, 'strength': controls.strength, 'size': controls.size}}
    settings.update(extra)
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def _differences(old, new, prefix=''):
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f'{prefix}{key}.')
        elif a != b:
            out.append(f'{prefix}{key}: {a!r} -> {b!r}')
    return out


def claim_output_dir(out_dir, settings, inputs, checkpoint):
    """Check that ``out_dir`` may receive this run's outputs, then record the run in its manifest.

    Args:
        out_dir (str): Output folder (created when absent).
        settings (dict): :func:`run_settings` of this run.
        inputs (list[str]): Keys of this run's inputs.
        checkpoint (str): Checkpoint path (recorded for people; the hash is what is compared).

    Raises:
        ValueError: The folder was made with other settings, or holds images without a manifest.
    """
    path = os.path.join(out_dir, MANIFEST)
    previous_inputs = []
    if os.path.isfile(path):
        try:
            with open(path) as f:
                old = json.load(f)
            old_settings, previous_inputs = old['settings'], old.get('inputs', [])
        except (ValueError, KeyError, TypeError) as err:
            raise BadInputError(f'{path} is not a readable inference manifest ({err}); choose another output '
                                'folder') from None
        changed = _differences(old_settings, settings)
        if changed:
            raise BadInputError(f'{out_dir} holds outputs made with other settings ({"; ".join(changed)[:400]}); '
                                'continuing would mix two models under one name: choose another output folder')
    elif os.path.isdir(out_dir) and any(_is_output(os.path.join(out_dir, n)) for n in os.listdir(out_dir)):
        raise BadInputError(f'{out_dir} holds images but no {MANIFEST}: they were not made by this tool with known '
                            'settings and would be taken as finished; choose an empty or new output folder')
    record = {'settings': settings, 'checkpoint': os.path.abspath(checkpoint),
              'inputs': sorted(set(previous_inputs) | set(inputs))}
    atomic_write_bytes(path, json.dumps(record, indent=1, sort_keys=True).encode())
    return path


def _is_output(path):
    if os.path.isdir(path):
        return os.path.basename(path) in ('restored_imgs', 'restored_faces', 'cropped_faces', 'cmp')
    return path.lower().endswith(IMAGE_EXTENSIONS)
