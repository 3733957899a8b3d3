"""Images on the dataset side: the decoding and listing of :mod:`facesr_arch.toolkit.inputs` (one path for every
command and dataset, its names importable from here too), and the datasets' tolerance of corrupt samples."""
import functools
import logging

from ..toolkit.inputs import (IMAGE_EXTENSIONS, MAX_IMAGE_PIXELS, ImageDecodeError, decode_image,  # noqa: F401
                              images_by_stem, list_images, read_image)
from ..toolkit.outputs import write_image_atomic  # noqa: F401


class SkipCorruptSamples:
    """Dataset mixin: an item whose image cannot be decoded is logged and replaced by the next index.

    A long training run should not die at iteration 480k for one broken JPEG. Subclasses keep a plain
    ``__getitem__``; it is wrapped when the class is defined. A dataset with more than
    ``max_corrupt_samples`` (option, default 10) distinct corrupt keys raises :class:`ImageDecodeError`
    naming them: many broken files are a broken dataset. Counts are per process (per DataLoader worker).
    Validation and test sets should be clean: a replaced item is evaluated twice, and the log says so.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if '__getitem__' in cls.__dict__:
            cls.__getitem__ = _skipping_corrupt(cls.__dict__['__getitem__'])


def _skipping_corrupt(getitem):

    @functools.wraps(getitem)
    def wrapper(self, index):
        corrupt = self.__dict__.setdefault('_corrupt_samples', {})
        limit = self.opt.get('max_corrupt_samples', 10)
        for offset in range(len(self)):
            item = (index + offset) % len(self)
            try:
                return getitem(self, item)
            except ImageDecodeError as err:
                if item not in corrupt:
                    corrupt[item] = str(err)
                    logging.getLogger('basicsr').warning(f'Skipping corrupt sample ({len(corrupt)} so far, limit '
                                                         f'max_corrupt_samples={limit}): {err}')
                if len(corrupt) > limit:
                    raise ImageDecodeError(f'{len(corrupt)} corrupt samples, more than max_corrupt_samples={limit}: '
                                           + '; '.join(list(corrupt.values())[:5])) from err
        raise ImageDecodeError(f'Every sample of the dataset is corrupt: {list(corrupt.values())[:5]}')

    return wrapper
