"""PianoCoach device runtime.

Everything the appliance runs lives here and depends only on light libraries (numpy, librosa,
pretty_midi, mido, onnxruntime): never torch or the other training frameworks. Host training and
export import this package for the feature code and the bundle manifest, never the reverse.
"""

__version__ = "0.1.0"
