"""PianoCoach export: checkpoint -> ONNX -> parity -> INT8 -> signed bundle; fine-tuned language model -> GGUF ->
quantized GGUF; flashing a bundle to devices over SSH.

Imports the device package (manifest dataclass, signatures, feature settings) and host_training, never
the reverse. ``python -m pianocoach_export --help`` lists the commands.
"""
