"""Host interface: the chip behind the framed command protocol of :mod:`hw.spec.host`
(:mod:`.interface`) and the UART PHY (:mod:`.uart`)."""

from .interface import HostChip, SlipFramer, build_id

__all__ = ["HostChip", "SlipFramer", "build_id"]
