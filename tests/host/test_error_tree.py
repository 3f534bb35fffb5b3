"""One exception tree: every exception class defined in the device, host-training and export packages is a
PianoCoachError (so the CLIs and the daemon show it as one line), except the internal signals listed in
tests/error_tree.py with why."""

from error_tree import INTERNAL, exception_classes

import pianocoach
import pianocoach_export
import pianocoach_train
from pianocoach.errors import PianoCoachError


def test_every_exception_class_belongs_to_the_tree():
    classes = {}
    for package in (pianocoach, pianocoach_train, pianocoach_export):
        classes.update(exception_classes(package))
    assert len(classes) >= 15  # the walk found the tree (errors.py alone defines 10)
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, PianoCoachError))
    assert outside == sorted(INTERNAL)
    for name in (
        "pianocoach_train.audio.soundfonts.SoundfontError",
        "pianocoach_train.percepiano.ids.IdError",
        "pianocoach_train.audio.evaluate.UnknownModelError",
        "pianocoach.toml_config.ConfigFileError",
        "pianocoach_train.checkpoints.CheckpointError",
        "pianocoach_export.trained_models.MissingArtifactError",
    ):
        assert issubclass(classes[name], PianoCoachError)
