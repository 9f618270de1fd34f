"""Adapters that misbehave on purpose, for the runner's fault tests."""
import os
import time

from adapters.base import Adapter, ModeUnavailable, Word


class Echo(Adapter):
    """Reads every image as the same text, a little slowly: a stand-in engine whose
    output is known, for the kill-and-resume test."""

    option_names = ("text", "delay", "pidfile")
    modes = ("cpu", "gpu")

    def load(self, mode, options):
        if mode == "gpu":
            raise ModeUnavailable("echo has no GPU here")
        self.text = options.get("text", "LOT 123")
        self.delay = float(options.get("delay", 0.0))
        if options.get("pidfile"):  # lets a test see whether this process outlives the runner
            with open(options["pidfile"], "w") as f:
                f.write(str(os.getpid()))

    def infer(self, inputs):
        time.sleep(self.delay)
        return [Word(self.text, (0, 0, 10, 10), 1.0)]


class Crash(Echo):
    """Dies in native code's way: the process ends with no Python exception."""

    def infer(self, inputs):
        os.write(2, b"fatal: simulated engine crash\n")
        os._exit(3)


class Segfault(Echo):
    def infer(self, inputs):
        import ctypes

        ctypes.string_at(0)


class Hang(Echo):
    def infer(self, inputs):
        time.sleep(3600)


class RaiseEverySample(Echo):
    def infer(self, inputs):
        raise ValueError("cannot read this")


class Calibrating(Echo):
    """Reads every image as what it was shown before timing: how many images, and their
    shapes, so a test can check the calibration hook."""

    def calibrate(self, images):
        self.text = "%d images %s" % (len(images), " ".join("x".join(map(str, i.shape)) for i in images))


class NotInstalled(Echo):
    """An engine whose package is missing from this environment."""

    def load(self, mode, options):
        import an_engine_not_installed_here  # noqa: F401


class BrokenInstall(Echo):
    """An engine that is installed but cannot import one of its own needs."""

    def load(self, mode, options):
        import tests.broken_engine  # noqa: F401


class UnavailableAtCalibration(Echo):
    """Finds out only when shown the calibration images that its mode cannot run."""

    def calibrate(self, images):
        raise ModeUnavailable("no INT8 here, found while calibrating")


class ShowsGPUs(Echo):
    """Reads every image as the GPUs its process may see."""

    modes = ("cpu", "gpu", "onnx-cpu")

    def load(self, mode, options):
        self.text = "GPUs %r" % os.environ.get("CUDA_VISIBLE_DEVICES")
        self.delay = 0.0


class FailsToLoad(Echo):
    """Raises while loading, and prints a line at exit as Tesseract's library does: the
    cell's reason must be the exception, not that last line of stderr."""

    def load(self, mode, options):
        import atexit
        import sys

        atexit.register(lambda: sys.stderr.write("ObjectCache(0x55d0)::~ObjectCache(): WARNING! LEAK! object\n"))
        raise RuntimeError("the model file is corrupt")


class Flaky(Echo):
    """Reads an image as ``text`` the first time it sees it and differently every time after:
    a reading that changes between passes of the same image."""

    def load(self, mode, options):
        super().load(mode, options)
        self.seen = {}

    def infer(self, inputs):
        key = int(inputs.sum()) % 1000003
        self.seen[key] = self.seen.get(key, 0) + 1
        return [Word(self.text + ("" if self.seen[key] == 1 else " %d" % self.seen[key]), (0, 0, 10, 10), 1.0)]


class RemovesAnImage(Echo):
    """Removes a file of the dataset as it loads: the dataset changes while a run goes on."""

    option_names = Echo.option_names + ("remove",)

    def load(self, mode, options):
        super().load(mode, options)
        if os.path.exists(options["remove"]):
            os.remove(options["remove"])
