"""The device runs without torch and friends: every device module imports with them made unimportable."""

import subprocess
import sys

BLOCKED = ["torch", "transformers", "peft", "bitsandbytes", "optimum", "tensorflow"]

SCRIPT = f"""
import importlib, importlib.abc, pkgutil, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError("blocked on the device: " + name)
        return None

sys.meta_path.insert(0, Block())
import pianocoach
names = [m.name for m in pkgutil.walk_packages(pianocoach.__path__, "pianocoach.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_every_device_module_imports_without_training_frameworks():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.strip()) >= 8


def test_the_block_really_blocks():
    run = subprocess.run([sys.executable, "-c", SCRIPT.replace("import pianocoach\n", "import torch\n", 1)],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "blocked on the device: torch" in run.stderr
