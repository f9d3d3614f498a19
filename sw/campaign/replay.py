"""Replaying a golden campaign's runs on hardware: the RTL in Verilator (SDSP and
core-digits campaigns) or a board (``serial:PORT``, core-digits); every run's outputs must
equal the golden model's."""

from __future__ import annotations

import json
from pathlib import Path

from sw.campaign.sdsp_digits import SdspDigits
from sw.campaign.spec import CampaignSpec, replace_samples

__all__ = ["replay", "replay_runs"]


def replay(results: dict, runs, *, samples: int = 20, backend: str = "verilator") -> dict:
    """Replay runs of campaign ``results`` (one entry of ``campaign.json``) on
    ``backend``, by its model: core-digits through the driver
    (:func:`sw.campaign.core_digits.replay`), SDSP campaigns with :func:`replay_runs`.
    Returns ``{"replayed": n, "matches": k, "runs": [...]}``."""
    if results["spec"].get("model") == "core-digits":
        from sw.campaign.core_digits import replay as replay_core
        return replay_core(results, runs, samples=samples, backend=backend)
    return replay_runs(results, runs, samples=samples, backend=backend)


def replay_runs(results: dict, runs, *, samples: int = 20, backend: str = "verilator") -> dict:
    """Replay runs of a static golden campaign on the RTL: the trained images, the run's
    faults through the memory bus, the first ``samples`` test presentations; the RTL's
    spikes per presentation must equal the golden model's and its predictions the
    campaign's. Returns ``{"replayed": n, "matches": k, "runs": [...]}``."""
    if backend != "verilator":
        raise ValueError(f"replay backend {backend!r}: only 'verilator' replays SDSP "
                         "campaigns (the serial link does not reach SDSP tiles' memories "
                         "in the golden host model yet)")
    import tempfile

    from sim.rtl import sdsp_core_build
    from sim.runner import run_cocotb
    spec = CampaignSpec(**results["spec"])
    if spec.fault_model == "seu" or spec.learning == "on":
        raise ValueError("replay takes static campaigns with learning off (flips, stuck, "
                         "sweep): their faults are all injected before the test")
    model = SdspDigits(replace_samples(spec, samples), log=None)
    chosen = [results["runs"][r] for r in runs]
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "case.json"
        case.write_text(json.dumps({
            "images": {k: [int(w) for w in v] for k, v in model.images.items()},
            "samples": [[[int(k.value), int(i), int(a)] for k, i, a in ev]
                        for ev in model.events],
            "runs": [{"run": r["run"], "faults": [[f["memory"], f["word"], f["mask"],
                                                   f.get("kind", "FLIP")]
                                                  for f in r["faults"]],
                      "predictions": r["predictions"][:samples]} for r in chosen]}))
        out = Path(tmp) / "out.json"
        config = model.config
        build = sdsp_core_build(config)
        run_cocotb(build, "sim.tb.sdsp", testcase="test_sdsp_inject_replay",
                   params={"config": config.to_dict(), "case": str(case), "out": str(out)})
        return json.loads(out.read_text())
