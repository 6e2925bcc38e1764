"""A static protocol: one trial template and a table of conditions (tones.csv).

Each row of the table is a unit: a tone of ``tone_hz`` for ``duration`` seconds,
then a 2 s response window, rewarded or not. A session takes the next 4 rows;
after the table's 8 rows the protocol is complete for that subject.

    moalab session run ../examples/protocols/tones.py --subject rat-1 --dry-run
"""

from moalab import Delay, MoaStage
from moalab.protocol import StaticProtocol


class Tones(StaticProtocol):
    name = "tones"
    version = 1
    conditions = "tones.csv"
    schema = {"tone_hz": int, "duration": float, "rewarded": bool}
    units_per_session = 4

    def build_unit(self, session, unit):
        trial = MoaStage(name=f"tone {unit['tone_hz']} Hz")
        trial.add_stage(Delay(name="tone", delay=unit["duration"]))
        trial.add_stage(Delay(name="response window", delay=2.0))
        return trial
