"""PianoCoach export: checkpoint -> ONNX -> INT8 -> signed bundle; HF model -> GGUF; flashing.

Imports the device package (manifest schema, feature settings) and host_training, never the reverse.
The export steps arrive with their issues; this package exists so the layout and install are fixed now.
"""
