"""Walk packages for the exception classes they define (tests of the one exception tree)."""

import importlib
import inspect
import pkgutil

# internal signals, caught where they are raised and turned into a problem line; never reach a caller
INTERNAL = {"pianocoach.bundle.onnx_refs.NotOnnx": "the ONNX scanner's parse failure, reported as a bundle problem"}


def exception_classes(package) -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found
