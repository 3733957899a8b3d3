"""The faces of a quick-start run: made on the spot or the user's, split into training and held-out faces, each
packed into a BasicSR LMDB (``create_lmdb``'s code)."""
import os
import shutil

from ..data.lmdb_build import create_lmdb
from ..data.sample_faces import write_portrait_faces
from ..toolkit.errors import BadInputError
from ..toolkit.inputs import list_images
from ..toolkit.outputs import refuse_input_inside

# faces made on the spot: count and side (every quick start trains at 128 px or less)
SAMPLE_COUNT, SAMPLE_SIDE = 10, 128


def sample_faces(folder):
    """:data:`SAMPLE_COUNT` aligned-style faces cut from scikit-image's astronaut portrait
    (``facesr_arch.data.sample_faces``), written to ``folder``; returns it."""
    return write_portrait_faces(folder, [f'face_{i:02d}.png' for i in range(SAMPLE_COUNT)], SAMPLE_SIDE)


def split_faces(hq_dir, out, holdout):
    """Copy the faces of ``hq_dir`` into ``out/train`` and (the last ``holdout`` by name) ``out/heldout``.

    Raises:
        BadInputError: ``hq_dir`` holds ``holdout`` faces or fewer.
        UnsafeOutputError: ``hq_dir`` lies in a folder this replaces.
    """
    if holdout < 1:
        raise BadInputError(f'--holdout must be at least 1, got {holdout}')
    for name in ('train', 'heldout'):  # both are replaced below
        refuse_input_inside([hq_dir], os.path.join(out, name), f'{name} folder of the demo')
    paths = list_images(hq_dir)
    if len(paths) <= holdout:
        raise BadInputError(f'{hq_dir}: {len(paths)} image(s); the demo needs more than --holdout {holdout}')
    folders = {'train': paths[:-holdout], 'heldout': paths[-holdout:]}
    for name, group in folders.items():
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)
        os.makedirs(os.path.join(out, name))
        for path in group:
            shutil.copy(path, os.path.join(out, name, os.path.basename(path)))
    return os.path.join(out, 'train'), os.path.join(out, 'heldout')


def pack_faces(folders, out, log=print):
    """Pack each folder of ``{name: folder}`` into ``out/<name>.lmdb``; returns ``{name: lmdb}``."""
    lmdbs = {}
    for name, folder in folders.items():
        lmdbs[name] = os.path.join(out, f'{name}.lmdb')
        written, skipped = create_lmdb(folder, lmdbs[name], overwrite=True)
        log(f'[demo] packed {written} {name} faces into {lmdbs[name]} ({len(skipped)} skipped)')
    return lmdbs
