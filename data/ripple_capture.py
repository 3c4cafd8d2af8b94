"""Compatibility name: the capture writer now lives in the package ripple_py
(data/ripple_py/capture_file.py). `from ripple_capture import CaptureWriter,
check_capture` keeps working for scripts that put data/ on sys.path."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ripple_py.capture_file import *  # noqa: E402,F401,F403
from ripple_py.capture_file import CaptureError, CaptureWriter, check_capture  # noqa: E402,F401
