"""ripple_py: the Python side of ripple.

* ``ripple_py.capture_file``: the capture writer (`CaptureWriter`) and checker
  (`check_capture`) of shared/spec/capture-format.md, for any PyTorch model;
* ``ripple_py.reuse``: the ripple transform in vectorised torch (any device),
  its savings and threshold ramps, identical to the C library on float32;
* ``ripple_py.clib``: a ctypes binding to the installed ``libripple.so``;
* ``ripple_py.adapters``: capture and reuse inside diffusers' HunyuanVideo, Wan
  and CogVideoX transformers (needs torch and diffusers).

Importing the package imports only numpy; each module imports what it needs.
"""

__version__ = "0.1.0"
