"""Test with BasicSR's pipeline: ``python -m facesr_arch.test -opt OPTIONS.yml``; results go to ./results."""
import os

from facesr_arch.models.priors import check_option_file
from facesr_arch.utils.launch import prepare


def main():
    check_option_file(prepare(is_train=False), is_train=False)
    from basicsr.test import test_pipeline
    test_pipeline(os.getcwd())


if __name__ == '__main__':
    main()
