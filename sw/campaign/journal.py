"""The journal of a campaign's runs (``runs.jsonl`` in ``--out``): every finished run
appended as it completes, so that a killed campaign started again resumes from it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from sw.campaign.outputs import json_default
from sw.campaign.spec import CampaignSpec

__all__ = ["Journal"]


class Journal:
    """``runs.jsonl`` in a campaign's ``--out`` directory: one JSON line per finished
    run, written (and flushed) as it finishes, after one header line per campaign with
    its spec. A campaign started again with the same spec takes the runs it finds there
    instead of running them; the journal of a campaign that did not finish refuses a
    different spec (naming the parameter); ``fresh`` starts over. A line cut short by a
    kill is dropped."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.headers: dict = {}     # campaign -> spec (as JSON reads it)
        self.lines: dict = {}       # campaign -> {run: record}
        self.complete = False
        self._file = None

    def _read(self) -> None:
        self.headers, self.lines, self.complete = {}, {}, False
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        good = 0                    # bytes up to the last whole line
        for n, line in enumerate(raw.splitlines(keepends=True), 1):
            if not line.endswith(b"\n"):
                break               # cut short by a kill: dropped (and truncated below)
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"--out {self.path.parent}: line {n} of {self.path.name} "
                                 f"is not JSON ({e}); start over with --fresh") from None
            good += len(line)
            # finished only if the marker is the last line: campaigns may follow it
            self.complete = "complete" in rec
            if self.complete:
                continue
            if "spec" in rec:
                self.headers[rec["campaign"]] = rec["spec"]
                self.lines.setdefault(rec["campaign"], {})
            else:
                self.lines.setdefault(rec["campaign"], {})[rec["run"]] = rec["record"]
        if good < len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(good)

    def prepare(self, specs: list, *, fresh: bool = False) -> None:
        """Open the journal for campaigns ``specs`` (index = campaign): keep it if
        every campaign it holds has the same spec; start over with ``fresh``, or when
        its campaigns all finished with other specs; else refuse."""
        self._read()
        if not fresh:
            for c, old in sorted(self.headers.items()):
                new = _as_json(asdict(specs[c])) if c < len(specs) else None
                if old == new:
                    continue
                if self.complete:
                    fresh = True    # a finished journal of other campaigns: start anew
                    break
                raise ValueError(f"--out {self.path.parent}: {self.path.name} holds the "
                                 f"unfinished campaign {_spec_difference(old, new)}; run "
                                 "the same command to resume it, or give --fresh to start "
                                 "over (or another --out)")
        if fresh:
            self.headers, self.lines, self.complete = {}, {}, False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w" if fresh else "a")
        self.complete = False
        for c, spec in enumerate(specs):
            if c not in self.headers:
                self.headers[c] = _as_json(asdict(spec))
                self._write({"campaign": c, "spec": self.headers[c]})
        self.flush()

    def runs(self, campaign: int, spec: CampaignSpec, lists) -> dict:
        """The journal's records of ``campaign`` (``{run: record}``), checked against
        the faults the campaign draws now."""
        if self._file is None:
            self.prepare([spec])
        out = self.lines.get(campaign, {})
        for r, rec in out.items():
            if r >= len(lists) or rec["faults"] != _as_json(lists[r]):
                raise ValueError(f"--out {self.path.parent}: run {r} in {self.path.name} "
                                 "has other faults than this campaign draws (the code or "
                                 "the model changed?); give --fresh to start over")
        return dict(out)

    def append(self, campaign: int, record: dict) -> None:
        self.lines.setdefault(campaign, {})[record["run"]] = record
        self._write({"campaign": campaign, "run": record["run"], "record": record})

    def _write(self, obj) -> None:
        self._file.write(json.dumps(obj, default=json_default) + "\n")

    def flush(self) -> None:
        self._file.flush()

    def finish(self) -> None:
        """Mark every campaign finished (its outputs written) and close."""
        self._write({"complete": True})
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _as_json(obj):
    return json.loads(json.dumps(obj, default=json_default))


def _spec_difference(old: dict, new: dict | None) -> str:
    """The first parameter two specs differ in, as the option and both values."""
    if new is None:
        return (f"{old.get('fault_model')} campaign with --protection "
                f"{old.get('protection')} --learning {old.get('learning')}, which this "
                "command does not run")
    for key in list(old) + [k for k in new if k not in old]:
        if old.get(key) != new.get(key):
            return (f"with --{key.replace('_', '-')} {old.get(key)!r}, not "
                    f"{new.get(key)!r}")
    return "with the same spec"     # pragma: no cover - callers compare first
