"""Model import: trained float spiking models (NIR graphs, the kit's own file) to integer
:class:`~sw.toolchain.network.Network` s.

Three steps, each usable alone::

    model = load_model("trained.nir", framework="snntorch")   # or from_nir(graph, dt=...)
    network, report = quantize(model, ChipConfig())
    print(report.table())

Modules (each imports only those above it in this list; ``docs/import.md`` has the
user's guide):

* :mod:`sw.frontend.float_model`: :class:`FloatModel` and :class:`FloatLayer`, their
  validation and :class:`ModelImportError`, the ``.npz`` file (:func:`save_float_model`,
  :func:`load_float_model`) and the float dynamics (:func:`simulate_float`);
* :mod:`sw.frontend.conventions`: what each framework's NIR export means
  (:class:`Convention`, :data:`PRESETS`: decay, comparison, reset, timing, dt);
* :mod:`sw.frontend.nir`: NIR import (:func:`from_nir`, whole-graph check first; a file
  of either kind: :func:`load_model`) and export (:func:`to_nir`);
* :mod:`sw.frontend.quantize`: float model -> integer ``Network`` (:func:`quantize`) and
  its :class:`QuantReport` / :class:`LayerQuant`;
* :mod:`sw.frontend.integer_sim`: the integer network on the golden ``NetworkModel``,
  batched like :func:`simulate_float` (:func:`simulate_network`).

The names below are re-exported here (``from sw.frontend import from_nir``); the old
module ``sw.importer`` is this package.
"""

from sw.frontend.float_model import (FORMAT, FloatLayer, FloatModel, ModelImportError,
                                     load_float_model, save_float_model, simulate_float)
from sw.frontend.integer_sim import simulate_network
from sw.frontend.conventions import FRAMEWORKS, PRESETS, Convention, convention
from sw.frontend.nir import from_nir, load_model, to_nir
from sw.frontend.quantize import LayerQuant, QuantReport, quantize

__all__ = [
    "ModelImportError", "FloatLayer", "FloatModel", "save_float_model", "load_float_model",
    "simulate_float", "simulate_network", "from_nir", "to_nir", "quantize", "QuantReport",
    "LayerQuant", "FORMAT", "Convention", "PRESETS", "convention", "FRAMEWORKS", "load_model",
]
