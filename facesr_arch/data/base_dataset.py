"""The base class of the package's datasets: an undecodable sample is logged and replaced, not fatal."""
import logging

from torch.utils import data

from ..toolkit.inputs import ImageDecodeError


class SkipCorruptDataset(data.Dataset):
    """A dataset whose :meth:`load_item` may meet an image that cannot be decoded.

    A long training run should not die at iteration 480k for one broken JPEG: :meth:`__getitem__` logs the
    corrupt item and returns the next index instead. More than ``max_corrupt_samples`` (option, default 10)
    distinct corrupt items raise :class:`ImageDecodeError` naming them: many broken files are a broken
    dataset. Counts are per process (per DataLoader worker). Validation and test sets should be clean: a
    replaced item is evaluated twice, and the log says so.

    Subclasses set ``self.opt`` (the dataset options) and implement ``__len__`` and :meth:`load_item`.
    """

    def load_item(self, index):
        """The sample at ``index`` (a dict); raises :class:`ImageDecodeError` for an undecodable image."""
        raise NotImplementedError

    def __getitem__(self, index):
        corrupt = self.__dict__.setdefault('_corrupt_samples', {})
        limit = self.opt.get('max_corrupt_samples', 10)
        for offset in range(len(self)):
            item = (index + offset) % len(self)
            try:
                return self.load_item(item)
            except ImageDecodeError as err:
                if item not in corrupt:
                    corrupt[item] = str(err)
                    logging.getLogger('basicsr').warning(f'Skipping corrupt sample ({len(corrupt)} so far, limit '
                                                         f'max_corrupt_samples={limit}): {err}')
                if len(corrupt) > limit:
                    raise ImageDecodeError(f'{len(corrupt)} corrupt samples, more than max_corrupt_samples={limit}: '
                                           + '; '.join(list(corrupt.values())[:5])) from err
        raise ImageDecodeError(f'Every sample of the dataset is corrupt: {list(corrupt.values())[:5]}')
