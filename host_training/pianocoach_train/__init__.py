"""PianoCoach host training: PercePiano data, models, training and evaluation.

Imports the device package for the feature code; the device never imports this package.
"""
