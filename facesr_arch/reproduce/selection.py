"""What a reproduction measures where: checkpoint rows of grouped tables, and test pairs the user brings.

- Row groups (``groups`` of a table, e.g. W-Net Table 1's Training Mode I / II): ``--checkpoint GROUP:NAME=PATH``
  measures NAME on the group's test set and pairs it with the group's row of that name; GROUP is the group's
  ``key`` (``mode2``) or name. Without a prefix a row belongs to the first group. Measured rows are keyed
  ``(group, name)`` (group None in a table without groups).
- Paired test sets: ``--pairs [NAME=]LQ_DIR GT_DIR`` uses the user's own LQ / GT folders (e.g. the CelebA-Test
  pairs GFPGAN distributes) for a (protocol, subset) instead of building one from HQ faces. NAME is
  ``PROTOCOL/SUBSET``, a protocol, or a column dataset; without NAME the folders serve the table's only set.
"""
import os

from ..data.image_io import images_by_stem


class SelectionError(ValueError):
    """Bad ``--checkpoint`` group prefix or ``--pairs`` entry (one line: what and what to do)."""


def split_row_name(table, label):
    """(group, row name) of a ``--checkpoint`` name: ``mode2:W-Net`` -> ('Training Mode II', 'W-Net').

    A table without groups keeps the whole label as the name; a label without a known group prefix belongs to
    the first group.
    """
    if not table.groups:
        return None, label
    prefix, sep, rest = label.partition(':')
    if sep and rest:
        group = table.find_group(prefix)
        if group is None:
            keys = ', '.join(f"{g['key']} ({g['name']})" for g in table.groups)
            raise SelectionError(f'--checkpoint {label}: {prefix!r} is not a row group of {table.name}; its groups: '
                                 f'{keys}')
        return group, rest
    return table.groups[0]['name'], label


def rows_on(table, protocol, subset, group):
    """The columns of ``table`` that the rows of ``group`` measure on (``protocol``, ``subset``)."""
    return [c for c in table.columns if c.subset == subset and table.column_protocol(c, group) == protocol]


def parse_pair_entries(entries):
    """``--pairs`` values ([[NAME=]LQ, GT], ...) -> {NAME or None: (LQ, GT)}.

    Raises:
        SelectionError: A folder that does not exist, or a NAME given twice.
    """
    out = {}
    for lq, gt in entries or ():
        name, sep, path = lq.partition('=')
        if sep and not os.path.exists(lq):
            lq = path
        else:
            name = None
        for folder in (lq, gt):
            if not os.path.isdir(folder):
                raise SelectionError(f'--pairs {folder}: no such folder (give the LQ folder, then the GT folder)')
        if name in out:
            raise SelectionError(f'--pairs: {name or "an unnamed pair"} given twice')
        out[name] = (lq, gt)
    return out


def paired_sets(table, pairs):
    """The (protocol, subset) sets of ``table`` that ``pairs`` (from :func:`parse_pair_entries`) serve.

    Returns:
        dict[tuple[str, str], tuple[str, str]]: (protocol, subset) -> (LQ folder, GT folder).

    Raises:
        SelectionError: A name that is no set, protocol or dataset of the table, one folder pair that would
            serve several sets, or folders whose stems do not pair up.
    """
    if not pairs:
        return {}
    datasets = {}
    for protocol, subset in table.measured_on:
        datasets[(protocol, subset)] = {c.dataset for g in table.group_names for c in rows_on(table, protocol,
                                                                                            subset, g)}
    chosen, users = {}, {}
    for (protocol, subset), names in datasets.items():
        for name in (f'{protocol}/{subset}', protocol, *sorted(n for n in names if n), None):
            if name in pairs:
                chosen[(protocol, subset)] = pairs[name]
                users.setdefault(name, []).append(f'{protocol}/{subset}')
                break
    unknown = set(pairs) - set(users)
    if unknown:
        sets = ', '.join(f'{p}/{s}' for p, s in table.measured_on)
        raise SelectionError(f'--pairs {sorted(map(str, unknown))} names no test set of {table.name}; its sets: {sets}')
    for name, sets in users.items():
        if len(sets) > 1:
            raise SelectionError(f'--pairs {name or "(unnamed)"} would serve {", ".join(sets)}: one LQ/GT pair is one '
                                 'set; name it PROTOCOL/SUBSET=LQ_DIR')
    for lq, gt in chosen.values():
        check_pairs(lq, gt)
    return chosen


def check_pairs(lq_dir, gt_dir):
    """Refuse LQ / GT folders whose images do not pair up by file stem (counts and first stems named).

    Raises:
        SelectionError: An LQ without GT or a GT without LQ, or an empty folder.
    """
    lq, gt = set(images_by_stem(lq_dir)), set(images_by_stem(gt_dir))
    if not lq:
        raise SelectionError(f'--pairs {lq_dir}: no images')
    lonely_lq, lonely_gt = sorted(lq - gt), sorted(gt - lq)
    if lonely_lq or lonely_gt:
        raise SelectionError(f'--pairs {lq_dir} / {gt_dir}: {len(lonely_lq)} LQ images without GT (first: '
                             f'{", ".join(lonely_lq[:3]) or "-"}), {len(lonely_gt)} GT images without LQ (first: '
                             f'{", ".join(lonely_gt[:3]) or "-"}); LQ and GT pair by file name')
