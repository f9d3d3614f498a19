"""Compatibility alias of :mod:`hw.spec.config`, where the configuration dataclasses live
(``from hw.config import ChipConfig`` keeps working; code in this repository imports
:mod:`hw.spec.config`)."""

from .spec.config import *  # noqa: F401,F403
from .spec.config import __all__  # noqa: F401
