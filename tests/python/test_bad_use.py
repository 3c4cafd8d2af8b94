"""Bad use of the capture and reuse sessions: a clear error, and never a file
(or a temporary file) left behind.

* a model class without an adapter;
* a step selection past the schedule: at construction (steps >= num_steps),
  a pipeline that runs another number of steps, a run that stops before a
  selected step, a loop without the step callback;
* a full disk: a 384 KiB tmpfs (mounted here as root, or in a user and
  mount namespace with unshare; skipped with a message when neither works)."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require("numpy", "h5py", "torch", "diffusers")

import unittest  # noqa: E402

import torch  # noqa: E402

from ripple_py.adapters import RippleCapture, RippleReuse, UnsupportedModelError  # noqa: E402
from ripple_py.capture_file import CaptureError  # noqa: E402

MODELS = common.tiny_models()


def leftovers(d):
    return sorted(os.listdir(d))


class BadUse(unittest.TestCase):
    def test_unsupported_model(self):
        from diffusers import UNet2DModel
        m = torch.nn.Linear(2, 2)
        for model in (m, UNet2DModel(block_out_channels=(8, 8), norm_num_groups=4, sample_size=8,
                                              down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2)):
            with self.assertRaises(UnsupportedModelError) as e:
                RippleCapture(model, os.path.join(common.tmpdir(), "x.h5"), num_steps=2)
            self.assertIn("HunyuanVideoTransformer3DModel", str(e.exception))
            self.assertIn(type(model).__name__, str(e.exception))
            with self.assertRaises(UnsupportedModelError):
                RippleReuse(model, theta=0.1)

    def test_steps_past_the_schedule(self):
        model, inputs, _ = MODELS["wan"]
        d = common.tmpdir()
        path = os.path.join(d, "x.h5")
        with self.assertRaises(CaptureError) as e:
            RippleCapture(model, path, num_steps=4, steps=[0, 4])
        self.assertIn("past the schedule", str(e.exception))
        inp = inputs(torch.Generator().manual_seed(0))
        # the run stops after 2 steps but step 3 was selected
        cap = RippleCapture(model, path, num_steps=4, steps=[1, 3], layers=[0])
        with self.assertRaises(CaptureError) as e:
            with cap:
                common.run_loop(model, inp, [900, 600], cap)
        self.assertIn("never ran", str(e.exception))
        self.assertEqual(leftovers(d), [])
        # a pipeline whose schedule is not num_steps
        pipe = type("Pipe", (), {"num_timesteps": 30})()
        cap = RippleCapture(model, path, num_steps=4, steps=[0], layers=[0])
        with self.assertRaises(CaptureError) as e:
            with cap:
                with torch.no_grad(), model.cache_context("cond"):
                    model(timestep=torch.tensor([900.0]), **inp)
                cap.step_callback(pipe, 0, 900, {})
        self.assertIn("runs 30 steps", str(e.exception))
        self.assertEqual(leftovers(d), [])
        # a loop that never calls the step callback
        cap = RippleCapture(model, path, num_steps=4, steps=[0, 1], layers=[0])
        with self.assertRaises(CaptureError) as e:
            with cap:
                common.run_loop(model, inp, [900, 600], None)
        self.assertIn("step_callback", str(e.exception))
        self.assertEqual(leftovers(d), [])
        # and the processors of the model are its own again
        self.assertTrue(all(not type(p).__name__.startswith("Ripple") for p in model.attn_processors.values()))

    def test_full_disk(self):
        if os.environ.get("RIPPLE_IN_TMPFS") != "1":
            script = os.path.abspath(__file__)
            sh = ('d=$(mktemp -d) && mount -t tmpfs -o size=384k tmpfs "$d" && '
                  'RIPPLE_IN_TMPFS=1 RIPPLE_TMPFS="$d" python3 "$0" BadUse.test_full_disk; rc=$?; '
                  'umount "$d"; rmdir "$d"; exit $rc')
            for cmd in (["sh", "-c", sh, script], ["unshare", "-rm", "sh", "-c", sh, script]):
                if os.geteuid() != 0 and cmd[0] == "sh":
                    continue
                try:
                    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
                except FileNotFoundError:
                    continue
                if "mount:" in p.stderr and p.returncode != 0 and "test_full_disk" not in p.stderr:
                    continue    # no tmpfs here: try the next way
                print(p.stdout + p.stderr)
                self.assertEqual(p.returncode, 0, "the full-disk run failed")
                return
            self.skipTest("cannot mount a tmpfs (not root, no unshare -rm)")
        d = os.environ["RIPPLE_TMPFS"]
        model, inputs, _ = MODELS["hunyuanvideo"]
        inp = inputs(torch.Generator().manual_seed(0))
        path = os.path.join(d, "full.h5")
        cap = RippleCapture(model, path, num_steps=40, steps="all", layers="all", storage="float32",
                            compression=False)
        with self.assertRaises(CaptureError) as e:
            with cap:
                common.run_loop(model, inp, [1000 - 25 * i for i in range(40)], cap)
        msg = str(e.exception)
        print("full disk:", msg)
        self.assertIn("No space left on device", msg)
        self.assertIn(path, msg)
        self.assertEqual(leftovers(d), [], "a file was left on the full disk")
        self.assertGreater(os.statvfs(d).f_bavail, 0.9 * os.statvfs(d).f_blocks, "reserved space not given back")


if __name__ == "__main__":
    if os.environ.get("RIPPLE_IN_TMPFS") == "1":
        unittest.main(argv=sys.argv, verbosity=2)
    common.main()
