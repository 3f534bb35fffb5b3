"""The MIDI scorers. Every model maps a performance to the 19 PercePiano scales on the label scale.

- vector models read the fixed-length descriptor vector: ``ridge``, ``mlp`` (torch), ``extra_trees``,
  ``boosting`` (scikit-learn trees, exported as ONNX-ML) and ``blend``, the average of those two and
  the MLP;
- sequence models read the per-note representation: ``fcn`` (1-D convolutions) and ``gru`` (a
  bidirectional GRU with attention pooling), both torch.
"""

from pianocoach_train.models.registry import MODEL_NAMES, build_scorer, load_scorer

__all__ = ["MODEL_NAMES", "build_scorer", "load_scorer"]
