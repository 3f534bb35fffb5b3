"""The device runs without torch and friends, and without a JIT compiler: every device module imports with
them made unimportable, and scoring audio and MIDI never loads numba, LLVM or librosa."""

import json
import subprocess
import sys

import pytest

BLOCKED = [
    "torch",
    "transformers",
    "peft",
    "bitsandbytes",
    "optimum",
    "tensorflow",
    # numba and LLVM (hundreds of MB, minutes of compiling on a Pi) and the libraries that bring them;
    # scipy and scikit-learn are not on the device either
    "numba",
    "llvmlite",
    "librosa",
    "resampy",
    "mir_eval",
    "scipy",
    "sklearn",
]

BLOCKER = f"""
import importlib, importlib.abc, pkgutil, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError("blocked on the device: " + name)
        return None

sys.meta_path.insert(0, Block())
"""

SCRIPT = (
    BLOCKER
    + """
import pianocoach
names = [m.name for m in pkgutil.walk_packages(pianocoach.__path__, "pianocoach.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""
)

SCORE = (
    BLOCKER
    + f"""
import json
from pianocoach.cli import main
code = main(["score", "--json", *sys.argv[1:]])
print(json.dumps({{"code": code, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in {BLOCKED!r})}}))
"""
)


def test_every_device_module_imports_without_training_frameworks():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.strip()) >= 8


def test_the_block_really_blocks():
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("import pianocoach\n", "import torch\n", 1)],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "blocked on the device: torch" in run.stderr


@pytest.mark.slow
def test_scoring_audio_and_midi_loads_no_jit_compiler(performance):
    """The real pipeline with the default bundle on a rendered WAV and its MIDI, with numba, LLVM, librosa,
    scipy and scikit-learn unimportable: both are scored, and none of them is in sys.modules afterwards."""
    run = subprocess.run(
        [sys.executable, "-c", SCORE, str(performance["wav"]), str(performance["midi"])], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    results, summary = lines[:-1], lines[-1]
    assert [r["source"] for r in results] == ["audio", "midi"] and all("error" not in r for r in results)
    assert summary == {"code": 0, "loaded": []}
