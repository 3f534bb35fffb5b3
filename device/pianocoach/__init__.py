"""PianoCoach device runtime.

Everything the appliance runs lives here and depends only on light libraries (numpy, soxr,
pretty_midi, mido, onnxruntime): never torch or the other training frameworks, and no JIT compiler
(librosa and numba stay on the host). Host training and export import this package for the feature
code and the bundle manifest, never the reverse.
"""

__version__ = "0.1.0"
