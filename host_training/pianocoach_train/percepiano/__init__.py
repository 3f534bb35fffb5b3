"""The PercePiano dataset: ids, labels, splits, and the data check."""

from pianocoach_train.percepiano.dataset import PercePiano
from pianocoach_train.percepiano.ids import PerformanceId, normalise_id, parse_id
from pianocoach_train.percepiano.labels import N_SCALES, SCALES, load_labels, read_labels
from pianocoach_train.percepiano.splits import Fold, Split, load_split

__all__ = [
    "Fold",
    "N_SCALES",
    "PercePiano",
    "PerformanceId",
    "SCALES",
    "Split",
    "load_labels",
    "load_split",
    "normalise_id",
    "parse_id",
    "read_labels",
]
