"""Whole photographs: RetinaFace detection, 5-point FFHQ alignment, and blended paste-back.

facexlib's ``init_detection_model`` / ``FaceRestoreHelper`` download weights; here the detector is a release
like every other pretrained file: facexlib's ``RetinaFace`` class is built directly and its weights are read from
a file the user names (default ``weights/<release file>``), through ``toolkit.checkpoints`` (``weights_only=True``).
:func:`require_detector` checks that file before any work starts, naming the file, where it is published and
where to put it.
"""
import os
import warnings

import cv2
import numpy as np
import torch

from ..toolkit.checkpoints import read_state_dict, require_file

# Five landmarks (eye centres, nose tip, mouth corners) of an FFHQ-aligned face at 512 px, as used by
# GFPGAN / CodeFormer alignment: faces aligned to it match FFHQ-trained models.
FFHQ_TEMPLATE_512 = np.array([[192.98138, 239.94708], [318.90277, 240.19360], [256.63416, 314.01935],
                              [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float32)

# the RetinaFace release file of each backbone (facexlib v0.1.0, what its init_detection_model downloads)
DETECTOR_FILES = {'resnet50': 'detection_Resnet50_Final.pth', 'mobile0.25': 'detection_mobilenet0.25_Final.pth'}
DETECTOR_RELEASE = 'https://github.com/xinntao/facexlib/releases/tag/v0.1.0'


def default_detector_path(network='resnet50'):
    """Where the detector file of ``network`` is looked for by default: ``weights/<release file name>``."""
    return os.path.join('weights', DETECTOR_FILES[network])


def detector_how_to_get(network):
    """How to obtain the RetinaFace file of ``network``: the file, where it is published, where it goes."""
    name = DETECTOR_FILES[network]
    return (f'Whole photos need the RetinaFace ({network}) detector {name}, published in facexlib\'s release '
            f'{DETECTOR_RELEASE}: download it on a machine with internet access, put it at weights/{name} '
            f'(weights/README.md) or pass its path with --detector.')


def require_detector(path, network='resnet50'):
    """``path`` if it is an existing file, else :class:`~facesr_arch.toolkit.checkpoints.MissingWeightsError` naming the
    file, where it is published and where to put it (called before any work starts)."""
    if network not in DETECTOR_FILES:
        raise ValueError(f'unknown RetinaFace backbone {network!r}; choose one of {sorted(DETECTOR_FILES)}')
    return require_file(path, f'RetinaFace {network} face detector', detector_how_to_get(network))


def load_detector(path, network='resnet50', device='cpu'):
    """facexlib's RetinaFace with weights from ``path``.

    Args:
        path (str): RetinaFace checkpoint (a state dict, keys optionally prefixed 'module.').
        network (str): 'resnet50' or 'mobile0.25'. Default: 'resnet50'.
        device (str | torch.device): Device. Default: 'cpu'.
    """
    from facexlib.detection.retinaface import RetinaFace
    path = require_detector(path, network)
    device = torch.device(device)
    with warnings.catch_warnings():  # facexlib builds its backbone with torchvision's deprecated pretrained=False
        warnings.filterwarnings('ignore', category=UserWarning, module='torchvision')
        detector = RetinaFace(network_name=network, half=False, device=device)
    state = read_state_dict(path, f'RetinaFace {network} face detector', detector_how_to_get(network))
    detector.load_state_dict({k.removeprefix('module.'): v for k, v in state.items()}, strict=True)
    return detector.eval().requires_grad_(False).to(device)


def detect_landmarks(detector, img, conf_threshold=0.8, max_faces=None):
    """Five landmarks per detected face, largest detection first.

    Args:
        detector (RetinaFace): From :func:`load_detector`.
        img (ndarray): uint8 BGR photo.
        conf_threshold (float): Detection score threshold. Default: 0.8.
        max_faces (int | None): Keep at most this many faces. Default: None (all).

    Returns:
        list[ndarray]: (5, 2) float32 landmarks in image coordinates.
    """
    with torch.no_grad():
        dets = detector.detect_faces(img, conf_threshold=conf_threshold)
    dets = [d for d in dets if np.all(np.isfinite(d))]
    dets.sort(key=lambda d: -(d[2] - d[0]) * (d[3] - d[1]))
    return [d[5:15].reshape(5, 2).astype(np.float32) for d in dets[:max_faces]]


def alignment(landmarks, crop_size):
    """Similarity transform (2x3) from the photo to an aligned face of side ``crop_size``, or None if the
    landmarks are degenerate."""
    matrix, _ = cv2.estimateAffinePartial2D(landmarks, FFHQ_TEMPLATE_512 * (crop_size / 512.0), method=cv2.LMEDS)
    if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix[:, :2])) < 1e-8:
        return None
    return matrix


def native_face_size(landmarks):
    """Side of the aligned face crop at the face's own resolution in the photo (pixels), or None."""
    matrix = alignment(landmarks, 512)
    return None if matrix is None else 512.0 / np.sqrt(abs(np.linalg.det(matrix[:, :2])))


def crop_face(img, matrix, crop_size):
    """Warp a face out of ``img`` (uint8 or float) with ``matrix`` to ``crop_size`` (edges replicated)."""
    return cv2.warpAffine(img, matrix, (crop_size, crop_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def feather_mask(size, border_ratio=1 / 16):
    """A (size, size) float mask, 1 inside and fading to 0 over ``border_ratio`` of the side at the edges."""
    margin = max(1, int(round(size * border_ratio)))
    mask = np.zeros((size, size), np.float32)
    mask[margin:-margin, margin:-margin] = 1
    return cv2.GaussianBlur(mask, (2 * margin + 1, 2 * margin + 1), 0)


def paste_faces(img, faces, matrices, crop_sizes, scale=1.0):
    """Paste restored faces back into a photo with a feathered mask.

    Args:
        img (ndarray): uint8 BGR photo (h, w, 3).
        faces (list[ndarray]): Restored uint8 BGR faces (any square size).
        matrices (list[ndarray]): The crop transforms the faces were aligned with (photo -> crop of side
            ``crop_sizes[i]``), one per face.
        crop_sizes (list[int]): The crop side each matrix maps to.
        scale (float): Output scale of the photo (background upsampled bicubically). Default: 1.

    Returns:
        ndarray: uint8 BGR photo of size (round(h * scale), round(w * scale)).
    """
    h, w = img.shape[:2]
    out_w, out_h = int(round(w * scale)), int(round(h * scale))
    out = img if scale == 1 else cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_CUBIC)
    out = out.astype(np.float32)
    for face, matrix, size in zip(faces, matrices, crop_sizes):
        face_side = face.shape[0]
        # photo(scaled) -> restored face: scale the crop transform to the face's side and the photo's scale
        to_face = matrix * (face_side / size)
        to_face[:, :2] /= scale
        inverse = cv2.invertAffineTransform(to_face)
        warped = cv2.warpAffine(face.astype(np.float32), inverse, (out_w, out_h), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(feather_mask(face_side), inverse, (out_w, out_h), flags=cv2.INTER_LINEAR)[..., None]
        out = warped * mask + out * (1 - mask)
    return np.clip(out.round(), 0, 255).astype(np.uint8)
