"""Software of the kit, in four groups (``docs/architecture.md`` draws them):

* :mod:`sw.toolchain`: networks, neuron programs, assembler, compiler and mapper;
* :mod:`sw.runtime`: the driver and its transports, input encodings, metrics, energy;
* :mod:`sw.frontend`: import of trained float models (NIR) and quantization;
* :mod:`sw.campaign`: fault-injection campaigns (the command is ``python sw/inject.py``);
* :mod:`sw.apps`: the demos and tasks built on them.

The modules lived directly in ``sw`` before; their old names (``sw.driver``,
``sw.importer`` ...) still import, as the same module objects, with a
:class:`DeprecationWarning` that names the new one.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings

#: old module name -> where it lives now
MOVED = {
    "sw.network": "sw.toolchain.network", "sw.programs": "sw.toolchain.programs",
    "sw.microcode": "sw.toolchain.microcode", "sw.compiler": "sw.toolchain.compiler",
    "sw.mapper": "sw.toolchain.mapper",
    "sw.driver": "sw.runtime.driver", "sw.inputs": "sw.runtime.inputs",
    "sw.metrics": "sw.runtime.metrics", "sw.energy": "sw.runtime.energy",
    "sw.importer": "sw.frontend", "sw.reliability": "sw.campaign.reliability",
    "sw.demo": "sw.apps.demo", "sw.delay_task": "sw.apps.delay_task",
    "sw.core_digits": "sw.campaign.core_digits", "sw.sdsp_digits": "sw.apps.sdsp_digits",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds a moved module under its old name and hands out the module itself, so that
    ``import sw.driver`` and ``import sw.runtime.driver`` are one object (patches and
    ``isinstance`` agree). ``python -m sw.demo`` runs the new module as ``__main__``."""

    def find_spec(self, name, path=None, target=None):
        new = MOVED.get(name)
        if new is None:
            return None
        spec = importlib.machinery.ModuleSpec(name, self,
                                              origin=importlib.util.find_spec(new).origin)
        spec.has_location = True            # ``python -m <old name>`` gets a __file__
        return spec

    def create_module(self, spec):
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; import it from there",
                      DeprecationWarning, stacklevel=3)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass

    def get_code(self, name):
        # what ``python -m <old name>`` runs (runpy asks the loader for the code)
        new = MOVED[name]
        return importlib.util.find_spec(new).loader.get_code(new)


if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.append(_Alias())
