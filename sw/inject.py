"""The fault-injection campaign command: ``python sw/inject.py ...`` or
``python -m sw.inject ...`` (``--help`` lists the options; :mod:`sw.campaign` holds the
engine, the models and the statistics)."""

import sys
from pathlib import Path

if __package__ in (None, ""):               # python sw/inject.py: the repository on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if __name__ == "__main__":
    # the campaign's functions and classes must be found by their modules' names in
    # worker processes and clusters, so the command runs them from sw.campaign, not here
    from sw.campaign.cli import main
    sys.exit(main())
