"""The push button and the optional status LED, through gpiozero.

A press shorter than ``long_press_s`` is a short press (start, stop, next page); holding it that long
is a long press (cancel), reported once while still held. Tests pass gpiozero's ``MockFactory`` and
press with ``pin.drive_low()``: the press really goes through gpiozero.
"""

from __future__ import annotations

import logging
from typing import Callable

from pianocoach.appliance.config import ButtonConfig
from pianocoach.errors import PianoCoachError

log = logging.getLogger(__name__)


class ButtonError(PianoCoachError):
    """The GPIO pins cannot be used (no pin factory, pin busy, no permission)."""


def pin_factory(name: str):
    """A gpiozero pin factory by name ("mock", "lgpio", "rpigpio", "native"); "" leaves gpiozero's default."""
    if not name:
        return None
    from importlib.metadata import entry_points

    # gpiozero registers its factories ("mock", "lgpio", "rpigpio", "pigpio", "native") as entry points:
    # the same lookup GPIOZERO_PIN_FACTORY goes through
    for entry in entry_points(group="gpiozero_pin_factories"):
        if entry.name == name.lower():
            try:
                return entry.load()()
            except Exception as exc:  # lgpio without /dev/gpiochip*, a missing library, ...
                raise ButtonError(f"GPIO pin factory {name!r} cannot start ({type(exc).__name__}: {exc})") from exc
    raise ButtonError(f"no GPIO pin factory named {name!r}")


class ButtonInput:
    def __init__(
        self, config: ButtonConfig, on_short: Callable[[], None], on_long: Callable[[], None], factory=None
    ) -> None:
        from gpiozero import LED, Button
        from gpiozero.exc import GPIOZeroError

        self.on_short, self.on_long = on_short, on_long
        self._held = False
        try:
            self.button = Button(
                config.pin,
                pull_up=True,
                bounce_time=config.bounce_s or None,
                hold_time=config.long_press_s,
                pin_factory=factory,
            )
            self.led = LED(config.led_pin, pin_factory=factory) if config.led_pin >= 0 else None
        except (GPIOZeroError, OSError, RuntimeError) as exc:
            raise ButtonError(f"button on GPIO{config.pin}: cannot use the pin ({type(exc).__name__}: {exc})") from exc
        self.button.when_held = self._on_held
        self.button.when_released = self._on_released
        log.info("button on GPIO%d%s", config.pin, f", LED on GPIO{config.led_pin}" if self.led else "")

    def _on_held(self) -> None:
        self._held = True
        self.on_long()

    def _on_released(self) -> None:
        if self._held:  # the end of a long press is not also a short one
            self._held = False
            return
        self.on_short()

    def show_state(self, state: str) -> None:
        """LED: lit while listening, blinking while scoring, off otherwise."""
        if self.led is None:
            return
        if state == "listening":
            self.led.on()
        elif state == "scoring":
            self.led.blink(on_time=0.15, off_time=0.15)
        else:
            self.led.off()

    def close(self) -> None:
        self.button.close()
        if self.led is not None:
            self.led.close()
