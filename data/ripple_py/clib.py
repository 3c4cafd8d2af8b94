"""ctypes binding to the installed C library, libripple.so (lib/include/ripple/ripple.h).

The library is found, in this order, at the path in $RIPPLE_LIBRARY, in the
libdir that `pkg-config --variable=libdir ripple` names (as `meson install`
puts it), or by ctypes.util.find_library("ripple"). Only what the Python side
compares against is bound: the ripple transform, the window deltas, savings,
exact attention, and the version.
"""

import ctypes
import ctypes.util
import os
import subprocess

import numpy as np


class LibraryNotFound(OSError):
    pass


class RippleError(RuntimeError):
    """A ripple_status < 0; the message is ripple_last_error()."""


class Layout(ctypes.Structure):
    _fields_ = [("grid", ctypes.c_int64 * 3), ("seq_len", ctypes.c_int64), ("video_offset", ctypes.c_int64),
                ("head_dim", ctypes.c_int64), ("num_groups", ctypes.c_int), ("group_axis", ctypes.c_int * 3),
                ("group_len", ctypes.c_int64 * 3)]


class ReuseParams(ctypes.Structure):
    _fields_ = [("axes", ctypes.c_uint), ("window", ctypes.c_int), ("mode", ctypes.c_int),
                ("theta", ctypes.c_double * 3), ("groups", ctypes.c_uint)]


class Savings(ctypes.Structure):
    _fields_ = [("s_score", ctypes.c_double), ("s_attn", ctypes.c_double), ("rows_reused", ctypes.c_double),
                ("q_reused", ctypes.c_double), ("k_reused", ctypes.c_double),
                ("q_group", ctypes.c_double * 3), ("k_group", ctypes.c_double * 3),
                ("q_axis", ctypes.c_double * 3), ("k_axis", ctypes.c_double * 3)]


def _candidates():
    env = os.environ.get("RIPPLE_LIBRARY")
    if env:
        yield env
        return
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "ripple"], capture_output=True, text=True,
                                timeout=30).stdout.strip()
        if libdir:
            yield os.path.join(libdir, "libripple.so")
    except (OSError, subprocess.SubprocessError):
        pass
    name = ctypes.util.find_library("ripple")
    if name:
        yield name


_lib = None


def load():
    """The loaded library (cached); LibraryNotFound says where it looked."""
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    for path in _candidates():
        tried.append(path)
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        _declare(lib)
        _lib = lib
        return lib
    raise LibraryNotFound("libripple.so not found (tried: %s); install it with `meson install -C build` "
                          "or set RIPPLE_LIBRARY=/path/to/libripple.so" % (", ".join(tried) or "nothing"))


def _declare(lib):
    P = ctypes.POINTER
    lib.ripple_version.restype = ctypes.c_char_p
    lib.ripple_last_error.restype = ctypes.c_char_p
    lib.ripple_reuse_apply.argtypes = [P(Layout), P(ReuseParams), P(ctypes.c_float), P(ctypes.c_float),
                                       P(ctypes.c_uint8)]
    lib.ripple_reuse_apply.restype = ctypes.c_int
    lib.ripple_window_delta_mean.argtypes = [P(Layout), ctypes.c_int, ctypes.c_int, P(ctypes.c_float),
                                             P(ctypes.c_double)]
    lib.ripple_window_delta_mean.restype = ctypes.c_int
    lib.ripple_savings_compute.argtypes = [P(Layout), P(ctypes.c_uint8), P(ctypes.c_uint8), P(Savings)]
    lib.ripple_savings_compute.restype = ctypes.c_int
    lib.ripple_attn_exact_f64.argtypes = [ctypes.c_int64] * 3 + [ctypes.c_double] + [P(ctypes.c_float)] * 3 + [
        P(ctypes.c_double)]
    lib.ripple_attn_exact_f64.restype = ctypes.c_int


def version():
    return load().ripple_version().decode()


def _check(st):
    if st != 0:
        raise RippleError(load().ripple_last_error().decode(errors="replace"))


def c_layout(layout):
    """ripple_py.reuse.Layout -> ripple_layout."""
    L = Layout()
    for i in range(3):
        L.grid[i] = layout.grid[i]
    L.seq_len, L.video_offset, L.head_dim = layout.seq_len, layout.video_offset, layout.head_dim
    L.num_groups = len(layout.rope_axes)
    for g, (a, n) in enumerate(zip(layout.rope_axes, layout.rope_split)):
        L.group_axis[g] = "thw".index(a)
        L.group_len[g] = n
    return L


def c_params(params):
    """ripple_py.reuse.ReuseParams -> ripple_reuse_params."""
    from .reuse import axes_mask
    p = ReuseParams()
    p.axes = axes_mask(params.axes)
    p.window = params.window
    p.mode = 1 if params.mode == "channel" else 0
    for a in range(3):
        p.theta[a] = params.theta[a]
    p.groups = 0 if params.groups is None else axes_mask(params.groups)
    return p


def _f32(x):
    return np.ascontiguousarray(x, dtype=np.float32)


def _ptr(a, t):
    return a.ctypes.data_as(ctypes.POINTER(t))


def reuse_apply(layout, params, x):
    """ripple_reuse_apply on one head x: [seq_len, head_dim] float32 -> (x_out, mask uint8)."""
    x = _f32(x)
    out = np.empty_like(x)
    mask = np.empty(x.shape, dtype=np.uint8)
    L, p = c_layout(layout), c_params(params)
    _check(load().ripple_reuse_apply(ctypes.byref(L), ctypes.byref(p), _ptr(x, ctypes.c_float),
                                     _ptr(out, ctypes.c_float), _ptr(mask, ctypes.c_uint8)))
    return out, mask


def window_delta_mean(layout, axis, window, x):
    """ripple_window_delta_mean: per channel mean window delta along axis ('t', 'h' or 'w')."""
    x = _f32(x)
    out = np.empty(layout.head_dim, dtype=np.float64)
    L = c_layout(layout)
    _check(load().ripple_window_delta_mean(ctypes.byref(L), "thw".index(axis), window, _ptr(x, ctypes.c_float),
                                           _ptr(out, ctypes.c_double)))
    return out


def savings_compute(layout, mq, mk):
    """ripple_savings_compute for one head -> dict of the struct's fields."""
    mq = np.ascontiguousarray(mq, dtype=np.uint8)
    mk = np.ascontiguousarray(mk, dtype=np.uint8)
    s = Savings()
    L = c_layout(layout)
    _check(load().ripple_savings_compute(ctypes.byref(L), _ptr(mq, ctypes.c_uint8), _ptr(mk, ctypes.c_uint8),
                                         ctypes.byref(s)))
    out = {k: getattr(s, k) for k in ("s_score", "s_attn", "rows_reused", "q_reused", "k_reused")}
    for g in range(3):
        out[f"q_group{g}"], out[f"k_group{g}"] = s.q_group[g], s.k_group[g]
        out[f"q_axis{g}"], out[f"k_axis{g}"] = s.q_axis[g], s.k_axis[g]
    return out


def attn_exact_f64(q, k, v, scale):
    """ripple_attn_exact_f64: softmax(scale q k^T) v with float64 products and sums; [heads, N, d]."""
    q, k, v = _f32(q), _f32(k), _f32(v)
    h, n, d = q.shape
    out = np.empty((h, n, d), dtype=np.float64)
    _check(load().ripple_attn_exact_f64(h, n, d, float(scale), _ptr(q, ctypes.c_float), _ptr(k, ctypes.c_float),
                                        _ptr(v, ctypes.c_float), _ptr(out, ctypes.c_double)))
    return out
