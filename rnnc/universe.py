"""xDSL universe entry point: makes stock `xdsl-opt` know rnnc too."""

from xdsl.universe import Universe

from rnnc.registry import DIALECTS, PASSES

RNNC_UNIVERSE = Universe(all_dialects=DIALECTS, all_passes=PASSES)
