"""Batched restoration of aligned faces and whole photos, with skipping, progress and a summary."""
import contextlib
import os
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from ..archs.optimize import optimize_for_inference
from ..data.preprocess import prepare_face, tensor_to_image, to_uint8
from ..toolkit.inputs import ImageDecodeError
from ..toolkit.outputs import write_image_atomic
from .figures import labelled_pair
from .specs import Controls, condition_tensor
from .whole_image import alignment, crop_face, detect_landmarks, native_face_size, paste_faces

# how the line printed per input side names each resizing of ``MethodSpec.interpolation``
INTERPOLATION_NAMES = {'bicubic': 'bicubic', 'bilinear-8bit': 'bilinear (8-bit, OpenCV)'}

# faces smaller than this carry too little to restore: 16 px is the smallest LR face of the papers' protocols
# (GCFSR x64 from 1024 px and W-Net x8 from 128 px) and of GCFSR's encoder ("the minimum input size", 3.4)
MIN_FACE_SIDE = 16


class SkipImage(ValueError):
    """An input that cannot be restored (too small, not a square aligned face); reported and skipped."""


def check_face_shape(img, source):
    """Raise :class:`SkipImage` unless ``img`` is square and at least ``MIN_FACE_SIDE`` px (an aligned face)."""
    h, w = img.shape[:2]
    if min(h, w) < MIN_FACE_SIDE:
        raise SkipImage(f'{source}: too small ({w}x{h}, minimum {MIN_FACE_SIDE} px)')
    if h != w:
        raise SkipImage(f'{source}: {w}x{h} is not a square aligned face (use --whole-image for photos)')


# largest output difference (normalised scale) accepted between the compiled and the eager network
COMPILE_TOLERANCE = 1e-3


class FaceRestorer:
    """One method ready to restore batches of aligned faces.

    Args:
        net (torch.nn.Module): The trained network (see ``loading.build_network``).
        spec (MethodSpec): The method's inference spec.
        device (str | torch.device): Device the network is on. Default: 'cpu'.
        controls (Controls | None): Factor / strength / size controls. Default: None (none set).
        autocast (bool): Mixed precision (bfloat16 on CPU, float16 on CUDA); outputs differ from fp32 within
            the tolerance the README documents. Default: False.
        optimize (bool): Run the optimised inference path (``optimize.py``: folded BatchNorm and weight
            scales, channels_last), equal to the plain network within 1e-4 in fp32; changes ``net`` in
            place. False runs the network as trained (reference path). Default: True.
        compile_net (bool): ``torch.compile`` the network (first batch slow: compilation). The first batch is
            also run eagerly, from the same random state, and when the compiled output differs by more than
            ``COMPILE_TOLERANCE`` the compiled network is dropped with a warning (inductor builds have produced
            wrong outputs for these networks on some CPUs). Default: False.
    """

    def __init__(self, net, spec, device='cpu', controls=None, autocast=False, optimize=True, compile_net=False):
        self.net, self.spec, self.controls = net, spec, controls or Controls()
        self.device = torch.device(device)
        self.sizes()  # an unusable size control is reported before any input is read
        self.autocast = autocast
        self.channels_last = optimize
        self.forward_net = net.eval()
        self.fed = {}  # (input side, controls) -> what the method is fed (printed once each)
        self.compiled = False
        self.unverified_compiled = None
        if optimize or compile_net:
            self.forward_net = optimize_for_inference(net, channels_last=optimize, fold=optimize)
        if compile_net:
            self.unverified_compiled = torch.compile(self.forward_net)

    def sizes(self, controls=None):
        """(lr_size or None, in_size, out_size) under ``controls`` (default: the restorer's ``controls``), derived
        on every call: a caller may reassign ``controls`` between batches (``reproduce`` does, per test set)."""
        return self.spec.sizes(self.net, controls or self.controls)

    @property
    def in_size(self):
        """The network's input side under the restorer's current ``controls``."""
        return self.sizes()[1]

    @property
    def out_size(self):
        """The output side under the restorer's current ``controls``."""
        return self.sizes()[2]

    def check(self, img, source, controls=None):
        """Raise :class:`SkipImage` unless ``img`` is a square face of at least ``MIN_FACE_SIDE`` px that fits the
        method's input (``MethodSpec.describe``); print what the method is fed, once per input side and controls."""
        check_face_shape(img, source)
        h = img.shape[0]
        controls = controls or self.controls
        if (h, controls) not in self.fed:
            try:
                self.fed[h, controls] = self.describe(h, controls)
            except ValueError as err:
                raise SkipImage(f'{source}: {err}') from None
            tqdm.write(self.fed[h, controls])

    def describe(self, side, controls=None):
        """One line: what the method is fed for ``side`` px inputs (ValueError when they do not fit)."""
        controls = controls or self.controls
        if self.spec.describe is not None:
            return self.spec.describe(self.net, side, controls)
        lr_size, in_size, out_size = self.sizes(controls)
        lr = f' -> {lr_size} px (its LR size)' if lr_size else ''
        resize = INTERPOLATION_NAMES[self.spec.interpolation]
        return f'{self.spec.name}: {side} px inputs{lr} -> {resize} to {in_size} px; output {out_size} px'

    def restore(self, faces, controls=None):
        """Restore aligned faces.

        Args:
            faces (list[ndarray]): Square float BGR faces in [0, 1], any sizes.
            controls (Controls | None): Overrides the restorer's controls (modulation sweeps); the sizes are
                derived from the controls in use.

        Returns:
            list[ndarray]: uint8 BGR faces of side ``out_size``.
        """
        controls = controls or self.controls
        lr_size, in_size, _ = self.sizes(controls)
        x = torch.stack([prepare_face(face, in_size, lr_size, self.spec.mean, self.spec.std, self.spec.interpolation)
                         for face in faces]).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        condition = None
        if self.spec.condition is not None:
            condition = condition_tensor([self.spec.condition(self.net, face.shape[0], controls) for face in faces],
                                         self.device)
        precision = torch.autocast(self.device.type, dtype=torch.float16 if self.device.type == 'cuda' else
                                   torch.bfloat16) if self.autocast else contextlib.nullcontext()
        with torch.no_grad(), precision:
            if self.unverified_compiled is not None:
                self._verify_compiled(x, condition)
            with self._compiled_scope():
                out = self.spec.run(self.forward_net, x, condition)
        return [tensor_to_image(o, self.spec.mean, self.spec.std, self.spec.quantisation) for o in out]

    def _compiled_scope(self):
        """Around every call of the compiled network (compilation happens inside it, on the first call and on
        each new input shape): inductor's ``fallback_random``, so compiled code draws the eager random numbers
        (``--seed`` means the same noise). Set only there and restored after: other compiled code in the
        process keeps inductor's defaults."""
        if not self.compiled:
            return contextlib.nullcontext()
        import torch._inductor.config as inductor_config
        return inductor_config.patch(fallback_random=True)

    def _verify_compiled(self, x, condition):
        """Keep the compiled network if it reproduces the eager one on this batch (same random state)."""
        compiled, self.unverified_compiled = self.unverified_compiled, None
        state = torch.random.get_rng_state()
        eager = self.spec.run(self.forward_net, x, condition)
        torch.random.set_rng_state(state)
        self.compiled = True
        with self._compiled_scope():
            diff = (self.spec.run(compiled, x, condition).float() - eager.float()).abs().max().item()
        torch.random.set_rng_state(state)
        if diff <= COMPILE_TOLERANCE:
            self.forward_net = compiled
        else:
            self.compiled = False
            tqdm.write(f'warning: --compile dropped: the compiled network differs from the eager one by {diff:.3g} '
                       f'(> {COMPILE_TOLERANCE:g}) on the first batch; running eagerly')


@dataclass
class Summary:
    """What a run did: images restored, faces restored, outputs that already existed, skipped inputs."""

    done: int = 0
    faces: int = 0
    existing: int = 0
    skipped: list = field(default_factory=list)
    no_face: list = field(default_factory=list)
    seconds: float = 0.0

    def report(self):
        """Human-readable summary lines."""
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        lines = [(f'Done: {self.done} image(s), {self.faces} face(s) in {self.seconds:.1f} s ({rate:.2f} images/s); '
                  f'already finished: {self.existing} (use --overwrite to redo); skipped: {len(self.skipped)}')]
        lines += [f'  skipped {key}: {reason}' for key, reason in self.skipped]
        lines += [f'  no face found in {key}: written unchanged' for key in self.no_face]
        return '\n'.join(lines)


def _progress(total, enabled):
    return tqdm(total=total, unit='img', dynamic_ncols=True, disable=not enabled)


def _read(item, summary):
    try:
        return item.read()
    except (ImageDecodeError, KeyError) as err:
        summary.skipped.append((item.key, str(err)))
        return None


def run_aligned(items, restorer, out_dir, batch_size=1, overwrite=False, progress=True):
    """Restore aligned faces into ``out_dir/<key>.png``, ``batch_size`` at a time.

    Args:
        items (list[InputItem]): Inputs (see ``sources.collect_inputs``).
        restorer (FaceRestorer): The method.
        out_dir (str): Output folder.
        batch_size (int): Faces per forward pass. Default: 1.
        overwrite (bool): Redo outputs that exist. Default: False (a rerun skips them).
        progress (bool): Show a progress bar. Default: True.

    Returns:
        Summary: What was done.
    """
    summary, pending, start = Summary(), [], time.time()
    bar = _progress(len(items), progress)

    def flush():
        for (path, _), restored in zip(pending, restorer.restore([img for _, img in pending])):
            write_image_atomic(path, restored)
        summary.done += len(pending)
        summary.faces += len(pending)
        bar.update(len(pending))
        bar.set_postfix(restored_per_s=f'{summary.done / max(time.time() - start, 1e-9):.2f}')
        pending.clear()

    for item in items:
        path = os.path.join(out_dir, f'{item.key}.png')
        if os.path.exists(path) and not overwrite:
            summary.existing += 1
            bar.update(1)
            continue
        img = _read(item, summary)
        if img is not None:
            try:
                restorer.check(img, item.key)
            except SkipImage as err:
                summary.skipped.append((item.key, str(err)))
                img = None
        if img is None:
            bar.update(1)
            continue
        pending.append((path, img))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    bar.close()
    summary.seconds = time.time() - start
    return summary


def run_whole_images(items, restorer, detector, out_dir, batch_size=1, overwrite=False, progress=True,
                     conf_threshold=0.8, max_faces=None, outscale=1.0):
    """Detect, align, restore and paste back every face of whole photos.

    Writes ``restored_faces/<key>_<i>.png`` (method output), ``cropped_faces/<key>_<i>.png`` (the aligned
    crop at the face's own resolution, capped at the method's output size), ``cmp/<key>_<i>.png`` (crop |
    restored, labelled, each at least 256 px) and, last, ``restored_imgs/<key>.png`` (the photo with the faces
    pasted back), whose existence marks the photo as finished.

    Args:
        items (list[InputItem]): Photos.
        restorer (FaceRestorer): The method.
        detector (RetinaFace): See ``whole_image.load_detector``.
        out_dir (str): Output folder.
        batch_size (int): Faces per forward pass. Default: 1.
        overwrite (bool): Redo finished photos. Default: False.
        progress (bool): Show a progress bar. Default: True.
        conf_threshold (float): Detection threshold. Default: 0.8.
        max_faces (int | None): Faces per photo, largest first. Default: None (all).
        outscale (float): Scale of ``restored_imgs`` relative to the input photo. Default: 1.

    Returns:
        Summary: What was done.
    """
    summary, start = Summary(), time.time()
    bar = _progress(len(items), progress)
    for item in items:
        final = os.path.join(out_dir, 'restored_imgs', f'{item.key}.png')
        if os.path.exists(final) and not overwrite:
            summary.existing += 1
            bar.update(1)
            continue
        img = _read(item, summary)
        if img is None or min(img.shape[:2]) < MIN_FACE_SIDE:
            if img is not None:
                summary.skipped.append((item.key, f'too small ({img.shape[1]}x{img.shape[0]})'))
            bar.update(1)
            continue
        photo = to_uint8(img)
        crops, matrices, sizes = [], [], []
        for landmarks in detect_landmarks(detector, photo, conf_threshold, max_faces):
            native = native_face_size(landmarks)
            if native is None or native < MIN_FACE_SIDE:
                continue
            size = int(round(min(native, restorer.out_size)))
            matrix = alignment(landmarks, size)
            if matrix is not None:
                crops.append(crop_face(img, matrix, size))
                matrices.append(matrix)
                sizes.append(size)
        restored = []
        for i in range(0, len(crops), batch_size):
            restored += restorer.restore(crops[i:i + batch_size])
        for i, (crop, face) in enumerate(zip(crops, restored)):
            name = f'{item.key}_{i:02d}.png'
            write_image_atomic(os.path.join(out_dir, 'cropped_faces', name), to_uint8(crop))
            write_image_atomic(os.path.join(out_dir, 'restored_faces', name), face)
            write_image_atomic(os.path.join(out_dir, 'cmp', name),
                               labelled_pair(to_uint8(crop), face, restorer.spec.name))
        if not crops:
            summary.no_face.append(item.key)
        write_image_atomic(final, paste_faces(photo, restored, matrices, sizes, outscale))
        summary.done += 1
        summary.faces += len(crops)
        bar.update(1)
        bar.set_postfix(faces=summary.faces)
    bar.close()
    summary.seconds = time.time() - start
    return summary
