"""The appliance around the scorer: configuration, the daemon's state machine, button and LED, display, speech,
history, and the programs that drive it (demo, soak)."""
