"""The device's companion web page for the player and the teacher (``pianocoach web``)."""
