"""What an input can show and what it cannot: the result never reports, and the feedback never quotes, a measure
its input could not give.

- **Sustain pedal.** A microphone take is transcribed by basic-pitch, which gives notes only: no pedal at all,
  so a transcription's "pedal down 0 %" is not a measurement. A bundle's pedal model hears the pedal in the sound
  (:mod:`pianocoach.scoring.pedal_model`): when it is sure enough of a take, the share of pedal down is shown,
  estimated, with its confidence (the pedal changes stay unknown); otherwise both are unknown. A transcription
  scorer that learned from the heard pedal reads it (every event, :meth:`ScoringSession._scored_table`), but the
  pedal scales of a microphone take stay unknown: a heard pedal is not a measured one (presses are hardly heard),
  and the feedback is told its pedal is unknown (``PerformanceResult.feedback_measures``), so it never quotes it. A
  MIDI take knows
  the pedal when it holds CC64 messages, or when the player has said that the instrument sends them
  (``[input] midi_sends_pedal`` in the config, ``pianocoach score --sends-pedal``):
  many digital pianos send CC64 only while the pedal moves, so a take without any cannot tell "no pedal" from
  "a piano that sends none". Without the pedal, the pedal measures are unknown (``value`` None), the two pedal
  scales are left out of what is shown, said and marked.
- **Estimated measures.** From a microphone every note-derived measure (tempo, articulation, key velocities) is
  read from the transcription, an estimate (``"estimated": true``); the key velocities only when the bundle's
  velocity model heard them (:mod:`pianocoach.scoring.velocity_model`), else the velocity range is unknown. A
  dynamic range in dB derived from key velocities is estimated too (:func:`pianocoach.scoring.measures.measures`
  says so); the dB range of a microphone take is measured on the signal itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pianocoach.features import NoteTable
from pianocoach.scoring.pedal_model import RELIABLE_FROM, HeardPedal

PEDAL_SCALES: tuple[str, ...] = ("Pedal: sparse-dry / saturated-wet", "Pedal: clean / blurred")
PEDAL_MEASURES: tuple[str, ...] = ("pedal_down_pct", "pedal_changes_per_s")
# read from the notes: from a microphone they come from the transcription
NOTE_MEASURES: tuple[str, ...] = (
    "note_count",
    "tempo_bpm",
    "tempo_variation_pct",
    "velocity_range",
    "articulation_ratio",
    "staccato_pct",
)

# read from the key velocities: from a microphone, only the bundle's velocity model hears them (basic-pitch's note
# amplitudes correlate with the keys' velocities at r 0.03 on held-out renders)
VELOCITY_MEASURES: tuple[str, ...] = ("velocity_range",)

# of the pedal measures, what the pedal model hears well enough to show: the share of time the pedal is down (its
# presses are hardly heard: pedal-onset F1 0.23 at 50 ms on held-out renders, reports/pedal)
HEARD_PEDAL_MEASURES: tuple[str, ...] = ("pedal_down_pct",)

REASONS = {
    "pedal_changes": {
        "en": "pedal presses are not heard reliably from a microphone",
        "zh": "麦克风听不准换踏板",
    },
    "audio": {
        "en": "a microphone take has no pedal reading",
        "zh": "麦克风录音无法读出踏板",
    },
    "velocity": {
        "en": "key velocities are not heard from a microphone without a velocity model in the bundle",
        "zh": "模型包没有力度模型，麦克风听不出触键力度",
    },
    "velocity_failed": {
        "en": "the velocity model failed on this take: its key velocities are unknown",
        "zh": "力度模型在这次录音上出错，触键力度未知",
    },
    "midi": {
        "en": "the MIDI input sent no pedal messages; set input.midi_sends_pedal = true if your piano sends them",
        "zh": "MIDI 输入没有发送踏板信息；如果钢琴会发送，请设 input.midi_sends_pedal = true",
    },
}


@dataclass(frozen=True)
class InputLimits:
    """What one take's input can show. ``pedal_known`` False: its pedal measures and pedal scales are unknown."""

    source: str  # "midi" or "audio"
    pedal_known: bool
    pedal_confidence: float | None = None  # a microphone take's pedal model, how sure it is (None: no model)
    # False: a microphone take whose velocities no velocity model heard (basic-pitch's are not velocities)
    velocities_heard: bool = True
    velocity_failed: bool = False  # the bundle's velocity model failed on this take

    @property
    def pedal_estimated(self) -> bool:
        """The pedal measures come from the pedal model heard sure enough."""
        return not self.pedal_known and self.pedal_confidence is not None and self.pedal_confidence >= RELIABLE_FROM

    @property
    def unknown_scales(self) -> list[str]:
        return [] if self.pedal_known else list(PEDAL_SCALES)

    def reason(self, language: str = "en") -> str:
        """Why the pedal is unknown, in words ("" when it is known)."""
        if self.pedal_known:
            return ""
        zh = language == "zh"
        if self.pedal_confidence is not None:
            return (  # three decimals, as the gate compares them (0.797 is not 0.80)
                f"踏板声音不够清楚（把握 {self.pedal_confidence:.3f}）"
                if zh
                else f"the pedal could not be heard clearly (confidence {self.pedal_confidence:.3f})"
            )
        return REASONS[self.source]["zh" if zh else "en"]

    def mark_measures(self, measures: dict[str, dict]) -> dict[str, dict]:
        """The measures with ``estimated`` set and the ones this input cannot give made unknown (value None,
        ``unknown`` with the reason)."""
        out = {}
        for name, item in measures.items():
            item = dict(item)
            if name in HEARD_PEDAL_MEASURES and self.pedal_estimated:
                item.update(estimated=True, confidence=self.pedal_confidence)
            elif name in PEDAL_MEASURES and self.pedal_estimated:  # heard, but its presses not reliably
                why_en, why_zh = REASONS["pedal_changes"]["en"], REASONS["pedal_changes"]["zh"]
                item.update(value=None, estimated=False, unknown=why_en, unknown_zh=why_zh)
            elif name in PEDAL_MEASURES and not self.pedal_known:
                item.update(value=None, estimated=False, unknown=self.reason("en"), unknown_zh=self.reason("zh"))
            elif name in VELOCITY_MEASURES and not self.velocities_heard:
                why = REASONS["velocity_failed" if self.velocity_failed else "velocity"]
                item.update(value=None, estimated=False, unknown=why["en"], unknown_zh=why["zh"])
            else:
                item["estimated"] = bool(item.get("estimated")) or (self.source == "audio" and name in NOTE_MEASURES)
            out[name] = item
        return out


def input_limits(
    source: str,
    table: NoteTable,
    sends_pedal: bool = False,
    heard: HeardPedal | None = None,
    velocities_heard: bool = True,
    velocity_failed: bool = False,
) -> InputLimits:
    """The limits of a take from ``source`` ("midi" or "audio") whose notes are ``table``. ``sends_pedal``: the
    MIDI instrument is known to send the sustain pedal, so a take without CC64 was played without it. ``heard``: the
    pedal model's estimate for a microphone take. ``velocities_heard``: a microphone take's velocity model heard its
    key velocities (a MIDI take always has them); ``velocity_failed``: the bundle has one, and it failed."""
    limits = limits_so_far(source, len(table.pedal_events) > 0, sends_pedal)
    velocities = source != "audio" or velocities_heard
    if source == "audio" and heard is not None:
        limits = InputLimits("audio", pedal_known=False, pedal_confidence=heard.confidence)
    return replace(limits, velocities_heard=velocities, velocity_failed=not velocities and velocity_failed)


def limits_so_far(source: str, pedal_seen: bool, sends_pedal: bool = False) -> InputLimits:
    """The limits while playing: ``pedal_seen``, a sustain-pedal message has arrived so far."""
    if source == "audio":
        return InputLimits("audio", pedal_known=False)  # while playing: the pedal model runs on the whole take
    return InputLimits("midi", pedal_known=sends_pedal or pedal_seen)
