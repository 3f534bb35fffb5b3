"""PianoCoach export: checkpoint -> ONNX -> parity -> INT8 -> signed bundle (later: GGUF, flashing).

Imports the device package (manifest dataclass, signatures, feature settings) and host_training, never
the reverse. ``python -m pianocoach_export --help`` lists the commands.
"""
