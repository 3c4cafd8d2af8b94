"""Write (and check) ripple attention captures from any PyTorch model.

The layout is the one of shared/spec/capture-format.md (beside the repository) (version 1):
root attributes describing the model and the token grid, and
/steps/NNN/layers/NNN/{q,k,v[,o]} datasets shaped [num_heads, seq_len, head_dim]
with a float `timestep` attribute on each step group.

Usage from any model (torch tensors on any device, or numpy arrays):

    from ripple_py.capture_file import CaptureWriter
    with CaptureWriter("run.h5", model="my-dit", grid=(T, H, W),
                       rope_split=(16, 24, 24), num_heads=H, head_dim=64,
                       num_layers=L, num_steps=50, seq_len=N,
                       video_offset=n_text) as w:
        ...                                  # inside the attention of layer l at step s:
        w.set_timestep(s, t)                 # the model's own timestep value
        w.add(s, l, q, k, v, o)              # q, k post-RoPE, [heads, N, head_dim]

Writing is incremental: each `add` writes its (step, layer) one head at a time
(one head is copied to the host at a time, never the whole layer), chunked per
head ([1, min(N, 8192), head_dim]) with shuffle+deflate, and flushed to the
file before `add` returns, so a full disk is an error of that `add`. Each
tensor is stored as float16 unless a value would overflow float16 (|x| >
65504), then as float32; `storage="float32"` stores everything as float32.

The file is written under a temporary name next to the target and renamed on a
successful close; on an exception inside the `with` block, or any failed write,
the temporary file is deleted, so no half-written capture is ever left under
the final name.
"""

import ctypes
import ctypes.util
import errno
import gc
import math
import os
import traceback

import h5py
import numpy as np

FORMAT = "ripple-capture"
FORMAT_VERSION = 1
FP16_MAX = 65504.0

_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 1, 2
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
except (OSError, AttributeError):
    _libc = None

REQUIRED_ROOT_ATTRS = ("format", "format_version", "model", "grid", "rope_axes",
                       "rope_split", "num_heads", "head_dim", "num_layers",
                       "num_steps", "seq_len", "video_offset", "scale")


class CaptureError(ValueError):
    """Raised for anything that would make an invalid capture."""


def _to_numpy(x, what):
    if hasattr(x, "detach"):  # torch tensor (any device, any float dtype)
        x = x.detach()
        if hasattr(x, "float"):
            x = x.float()
        x = x.cpu().numpy()
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise CaptureError(f"{what}: expected a floating-point tensor, got dtype {x.dtype}")
    return x


def _check_values(x, where):
    """Finite check and storage type of a whole tensor (on its own device):
    float16 unless a value would overflow it, then float32."""
    if hasattr(x, "detach"):
        import torch
        x = x.detach()
        if not x.dtype.is_floating_point:
            raise CaptureError(f"{where}: expected a floating-point tensor, got dtype {x.dtype}")
        fin = torch.isfinite(x)
        if not bool(fin.all()):
            pos = [int(i) for i in torch.nonzero(~fin)[0]]
            raise CaptureError(f"{where}: non-finite value {float(x[tuple(pos)])} at [head, token, channel] {pos}")
        amax = float(x.abs().amax()) if x.numel() else 0.0
    else:
        x = _to_numpy(x, where)
        bad = ~np.isfinite(x)
        if bad.any():
            pos = tuple(int(i) for i in np.argwhere(bad)[0])
            raise CaptureError(f"{where}: non-finite value {x[pos]} at [head, token, channel] {list(pos)}")
        amax = float(np.abs(x).max(initial=0.0))
    return np.float16 if amax <= FP16_MAX else np.float32


def _pos_int(v, name):
    try:
        iv = int(v)
    except Exception as e:  # noqa: BLE001
        raise CaptureError(f"{name} must be an integer, got {v!r}") from e
    if iv != v or iv <= 0:
        raise CaptureError(f"{name} must be a positive integer, got {v!r}")
    return iv


class CaptureWriter:
    def __init__(self, path, *, model, grid, num_heads, head_dim, num_layers,
                 num_steps, seq_len, video_offset, rope_split, rope_axes="thw",
                 scale=None, heads=None, prompt=None, seed=None, source=None,
                 guidance=None, compression=True, extra_attrs=None, storage="auto"):
        self.path = os.fspath(path)
        if storage not in ("auto", "float32"):
            raise CaptureError(f"storage must be 'auto' (float16 unless it would overflow) or 'float32', got {storage!r}")
        self.storage = storage
        grid = [int(g) for g in grid]
        if len(grid) != 3:
            raise CaptureError(f"grid must have 3 entries [T, H, W], got {grid}")
        for g, n in zip(grid, "THW"):
            _pos_int(g, f"grid {n}")
        self.num_heads = _pos_int(num_heads, "num_heads")
        self.head_dim = _pos_int(head_dim, "head_dim")
        self.num_layers = _pos_int(num_layers, "num_layers")
        self.num_steps = _pos_int(num_steps, "num_steps")
        self.seq_len = _pos_int(seq_len, "seq_len")
        video_offset = int(video_offset)
        if video_offset < 0:
            raise CaptureError(f"video_offset must be >= 0, got {video_offset}")
        n_video = grid[0] * grid[1] * grid[2]
        if self.seq_len < video_offset + n_video:
            raise CaptureError(f"seq_len {self.seq_len} < video_offset {video_offset} + T*H*W {n_video}")
        rope_split = [int(r) for r in rope_split]
        if len(rope_split) != len(rope_axes):
            raise CaptureError(f"rope_split {rope_split} and rope_axes {rope_axes!r} differ in length")
        if any(r <= 0 for r in rope_split) or sum(rope_split) > self.head_dim:
            raise CaptureError(f"rope_split {rope_split} must be positive and sum to <= head_dim {self.head_dim}")
        if scale is None:
            scale = 1.0 / math.sqrt(self.head_dim)
        if not (math.isfinite(float(scale)) and float(scale) > 0):
            raise CaptureError(f"scale must be a positive finite float, got {scale!r}")
        if heads is not None:
            heads = [int(h) for h in heads]
            if len(heads) != self.num_heads:
                raise CaptureError(f"heads {heads} must list num_heads={self.num_heads} entries")
        if guidance is not None and guidance not in ("cond", "uncond", "cfg-batch"):
            raise CaptureError(f"guidance must be cond, uncond or cfg-batch, got {guidance!r}")
        self.compression = compression
        self._reserved = 0
        self._steps_seen = {}
        self._written = set()
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        self._tmp = os.path.join(d, "." + os.path.basename(self.path) + f".tmp{os.getpid()}")
        self._f = h5py.File(self._tmp, "w")
        a = self._f.attrs
        a["format"] = FORMAT
        a["format_version"] = np.int64(FORMAT_VERSION)
        a["model"] = str(model)
        a["grid"] = np.asarray(grid, dtype=np.int64)
        a["rope_axes"] = str(rope_axes)
        a["rope_split"] = np.asarray(rope_split, dtype=np.int64)
        a["num_heads"] = np.int64(self.num_heads)
        a["head_dim"] = np.int64(self.head_dim)
        a["num_layers"] = np.int64(self.num_layers)
        a["num_steps"] = np.int64(self.num_steps)
        a["seq_len"] = np.int64(self.seq_len)
        a["video_offset"] = np.int64(video_offset)
        a["scale"] = np.float64(scale)
        if heads is not None:
            a["heads"] = np.asarray(heads, dtype=np.int64)
        if prompt is not None:
            a["prompt"] = str(prompt)
        if seed is not None:
            a["seed"] = np.int64(seed)
        if source is not None:
            a["source"] = str(source)
        if guidance is not None:
            a["guidance"] = guidance
        for k, v in (extra_attrs or {}).items():
            if k in a:
                raise CaptureError(f"extra attribute {k!r} would overwrite a format attribute")
            a[k] = v

    # -- writing ---------------------------------------------------------
    def _check_step_layer(self, step, layer):
        step, layer = int(step), int(layer)
        if not 0 <= step < self.num_steps:
            raise CaptureError(f"step {step} out of range [0, {self.num_steps})")
        if not 0 <= layer < self.num_layers:
            raise CaptureError(f"layer {layer} out of range [0, {self.num_layers})")
        return step, layer

    def set_timestep(self, step, timestep):
        step, _ = self._check_step_layer(step, 0)
        t = float(timestep)
        if not math.isfinite(t):
            raise CaptureError(f"timestep of step {step} is not finite: {timestep!r}")
        g = self._f.require_group(f"steps/{step:03d}")
        g.attrs["timestep"] = np.float64(t)
        self._steps_seen[step] = t

    def add(self, step, layer, q, k, v, o=None, timestep=None):
        """Writes one (step, layer): q, k, v (and o): [num_heads, seq_len, head_dim],
        torch tensors (any device, any float dtype) or numpy arrays."""
        step, layer = self._check_step_layer(step, layer)
        if self._f is None:
            raise CaptureError(f"{self.path}: the writer is closed")
        if (step, layer) in self._written:
            raise CaptureError(f"step {step} layer {layer} was already written")
        want = (self.num_heads, self.seq_len, self.head_dim)
        tensors = {"q": q, "k": k, "v": v}
        if o is not None:
            tensors["o"] = o
        dtypes = {}
        for name, x in tensors.items():       # every check before anything is written
            where = f"step {step} layer {layer} {name}"
            if tuple(x.shape) != want:
                raise CaptureError(f"{where}: shape {tuple(x.shape)} != [num_heads, seq_len, head_dim] {list(want)}")
            dtypes[name] = _check_values(x, where)
            if self.storage == "float32":
                dtypes[name] = np.float32
        if timestep is not None:
            self.set_timestep(step, timestep)
        need = sum(int(np.dtype(dt).itemsize) for dt in dtypes.values()) * self.num_heads * self.seq_len * self.head_dim
        self._reserve(need + need // 100 + (64 << 10), f"step {step} layer {layer}")
        try:
            g = self._f.require_group(f"steps/{step:03d}/layers/{layer:03d}")
            chunks = (1, min(self.seq_len, 8192), self.head_dim)
            for name, x in tensors.items():
                kw = dict(chunks=chunks)
                if self.compression:
                    kw.update(shuffle=True, compression="gzip", compression_opts=4)
                d = g.create_dataset(name, shape=want, dtype=dtypes[name], **kw)
                for h in range(self.num_heads):      # one head on the host at a time
                    d[h] = _to_numpy(x[h], name).astype(dtypes[name])
            self._f.flush()
        except (OSError, RuntimeError, ValueError) as e:
            msg = f"{self.path}: writing step {step} layer {layer} failed ({e}); is the disk full?"
            # h5py objects of the failed write must be gone before the file is
            # closed (a dataset freed after its file failed to close crashes h5py)
            traceback.clear_frames(e.__traceback__)
            g = d = None
            self._discard()
            gc.collect()
            self.abort()
            raise CaptureError(msg) from None
        self._written.add((step, layer))

    # -- disk space --------------------------------------------------------
    # As the C writer (lib/src/capture.c): blocks for what HDF5 will write are
    # reserved (fallocate KEEP_SIZE) before each add, so a full disk is a clean
    # error before anything is written; libhdf5 that ran out of space while
    # writing can crash the process when its objects are freed. After any
    # failure HDF5's descriptor is pointed at an in-memory sink (dup2), so
    # what it still writes while closing goes nowhere and cannot fail.
    def _fd(self):
        try:
            return int(self._f.id.get_vfd_handle())
        except Exception:  # noqa: BLE001
            return -1

    def _reserve(self, more, what):
        fd = self._fd()
        if fd < 0 or _libc is None:
            return
        end = os.fstat(fd).st_size + int(more)
        if _libc.fallocate(fd, _FALLOC_FL_KEEP_SIZE, ctypes.c_int64(0), ctypes.c_int64(end)) == 0:
            self._reserved = max(self._reserved, end)
            return
        err = ctypes.get_errno()
        if err in (errno.EOPNOTSUPP, errno.ENOSYS):
            return
        msg = (f"{self.path}: cannot reserve {more} bytes of disk space for {what} "
               f"({os.strerror(err)}); nothing of it was written, and the capture is removed")
        self._discard()
        self.abort()
        raise CaptureError(msg)

    def _discard(self):
        fd = self._fd()
        if fd < 0:
            return
        try:
            sink = os.memfd_create("ripple-discard")
        except (AttributeError, OSError):
            return
        os.dup2(sink, fd)
        os.close(sink)

    def _give_back(self):
        """Frees the reserved blocks past the end of the closed temporary file."""
        if _libc is None or not self._reserved:
            return
        fd = os.open(self._tmp, os.O_WRONLY)
        try:
            size = os.fstat(fd).st_size
            if self._reserved > size:
                _libc.fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, ctypes.c_int64(size),
                                ctypes.c_int64(self._reserved - size))
                os.ftruncate(fd, size)
        finally:
            os.close(fd)

    # -- finishing -------------------------------------------------------
    def close(self):
        if self._f is None:
            return
        missing = sorted({s for s, _ in self._written} - set(self._steps_seen))
        if missing:
            self.abort()
            raise CaptureError(f"steps {missing} have tensors but no timestep (call set_timestep)")
        if not self._written:
            self.abort()
            raise CaptureError("nothing was captured")
        try:
            self._f.flush()
            self._f.close()
            self._f = None
            self._give_back()
            fd = os.open(self._tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self._tmp, self.path)
        except (OSError, RuntimeError) as e:
            self.abort()
            raise CaptureError(f"{self.path}: finishing the capture failed ({e}); is the disk full?") from e

    def abort(self):
        """Closes and deletes the temporary file; never raises for a failed close."""
        if self._f is not None:
            try:
                self._f.close()
            except Exception:  # noqa: BLE001  (a full disk can fail the close; the file goes anyway)
                pass
            self._f = None
        try:
            os.remove(self._tmp)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def check_capture(path, read_tensors=True):
    """Validate a capture file against the spec; raise CaptureError naming file, path and reason.

    Returns a small summary dict (attributes, steps, layers)."""
    path = os.fspath(path)
    with h5py.File(path, "r") as f:
        a = f.attrs
        for name in REQUIRED_ROOT_ATTRS:
            if name not in a and name != "scale":
                raise CaptureError(f"{path}: /: missing root attribute {name!r}")
        fmt = a["format"]
        fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
        if fmt != FORMAT or int(a["format_version"]) != FORMAT_VERSION:
            raise CaptureError(f"{path}: /: unknown format {fmt!r} version {a['format_version']}")
        grid = [int(g) for g in a["grid"]]
        nh, hd, N = int(a["num_heads"]), int(a["head_dim"]), int(a["seq_len"])
        off = int(a["video_offset"])
        if min(grid + [nh, hd, N, int(a["num_layers"]), int(a["num_steps"])]) <= 0:
            raise CaptureError(f"{path}: /: zero or negative dimension")
        if N < off + grid[0] * grid[1] * grid[2]:
            raise CaptureError(f"{path}: /: seq_len {N} < video_offset {off} + T*H*W")
        if sum(int(r) for r in a["rope_split"]) > hd:
            raise CaptureError(f"{path}: /: rope_split sum exceeds head_dim {hd}")
        steps = {}
        for sname, sg in f["steps"].items():
            if "timestep" not in sg.attrs:
                raise CaptureError(f"{path}: /steps/{sname}: missing attribute timestep")
            layers = []
            for lname, lg in sg["layers"].items():
                for t in ("q", "k", "v", "o"):
                    if t not in lg:
                        if t == "o":
                            continue
                        raise CaptureError(f"{path}: /steps/{sname}/layers/{lname}: missing {t}")
                    d = lg[t]
                    p = f"/steps/{sname}/layers/{lname}/{t}"
                    if d.shape != (nh, N, hd):
                        raise CaptureError(f"{path}: {p}: shape {d.shape} != {(nh, N, hd)}")
                    if d.dtype not in (np.float16, np.float32):
                        raise CaptureError(f"{path}: {p}: element type {d.dtype} not float16/float32")
                    if read_tensors:
                        x = d[...]
                        bad = ~np.isfinite(x)
                        if bad.any():
                            raise CaptureError(f"{path}: {p}: non-finite value at {np.argwhere(bad)[0].tolist()}")
                layers.append(int(lname))
            steps[int(sname)] = (float(sg.attrs["timestep"]), sorted(layers))
        return {"attrs": {k: a[k] for k in a}, "steps": steps}
