"""An appliance driven by a program instead of a person: its daemon loop in a thread and a finger on the
button through gpiozero's mock pin (pulled up, so pressed = driven low). The demo, the soak and the
tests use it; every press goes through gpiozero and the daemon's real event handling."""

from __future__ import annotations

import threading
import time

from pianocoach.appliance.app import build_appliance
from pianocoach.appliance.config import Config
from pianocoach.appliance.daemon import PRESS_GUARD_S


class DrivenAppliance:
    def __init__(self, config: Config, warm: bool = True) -> None:
        if config.button.pin_factory != "mock":
            raise ValueError('a driven appliance presses a mock pin: set button.pin_factory = "mock"')
        self.appliance = build_appliance(config, warm=warm)
        self.daemon = self.appliance.daemon
        if self.appliance.button is None:
            raise RuntimeError("a driven appliance needs its mock button, which could not be set up (see the log)")
        self.pin = self.appliance.button.button.pin
        self.loop = threading.Thread(target=self.daemon.run, name="daemon", daemon=True)
        self.loop.start()

    def press(self, hold: float = 0.05, gap: float = PRESS_GUARD_S + 0.05) -> None:
        """A press of ``hold`` seconds (past button.long_press_s it is a long press), then ``gap`` of rest."""
        self.pin.drive_low()
        time.sleep(hold)
        self.pin.drive_high()
        time.sleep(gap)

    def long_press(self) -> None:
        self.press(hold=self.daemon.config.button.long_press_s + 0.2)

    def wait_state(self, *states: str, timeout: float = 120.0) -> str:
        self.wait_for(lambda: self.daemon.state in states, timeout, f"state {' or '.join(states)}")
        return self.daemon.state

    def wait_for(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if not self.loop.is_alive():
                raise RuntimeError(f"the daemon loop ended while waiting for {what}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {what}; the daemon is {self.daemon.state}")
            time.sleep(0.02)

    def close(self) -> None:
        self.daemon.shutdown()
        self.loop.join(timeout=30)
        self.appliance.close()
