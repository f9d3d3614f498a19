"""Host interface: the framed command protocol (:mod:`.protocol`), the chip behind it
(:mod:`.interface`) and the UART PHY (:mod:`.uart`)."""

from .interface import HostChip, SlipFramer, build_id, host_geometry
from .protocol import Error, Op

__all__ = ["HostChip", "SlipFramer", "build_id", "host_geometry", "Error", "Op"]
