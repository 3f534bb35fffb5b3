"""pytest puts this folder on sys.path because this file is here, so tests can import midi_helpers."""
