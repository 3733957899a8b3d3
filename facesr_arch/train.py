"""Train with BasicSR's pipeline: ``python -m facesr_arch.train -opt OPTIONS.yml [--auto_resume]``.

Distributed: ``torchrun --nproc_per_node=N -m facesr_arch.train -opt OPTIONS.yml --launcher pytorch``.
Experiments are written to ``./experiments/<name>`` under the current directory.
"""
import os

from facesr_arch.models.priors import check_option_file
from facesr_arch.utils.launch import prepare


def main():
    check_option_file(prepare(is_train=True), is_train=True)
    from basicsr.train import train_pipeline
    train_pipeline(os.getcwd())


if __name__ == '__main__':
    main()
