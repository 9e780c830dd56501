"""OpenSim motion files: .mot/.sto coordinate tables and .trc marker trajectories."""

from .mot import MotionTable, read_mot, write_mot
from .trc import MarkerTable, read_trc, write_trc

__all__ = ["MotionTable", "read_mot", "write_mot", "MarkerTable", "read_trc", "write_trc"]
