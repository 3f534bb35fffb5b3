"""Audio scorers: PercePiano rendered through FluidSynth soundfonts, augmented, turned into the device's
audio features, and the pitch-contour FCN, mel-spectrogram CRNN and hybrid trained on them."""
