"""Radiation-style fault-injection campaigns; the command is ``python sw/inject.py``.

* :mod:`.spec`: what defines a campaign (:class:`~.spec.CampaignSpec`), fault models, outcomes;
* :mod:`.model`: the :class:`~.model.CampaignModel` interface and the registry of models;
* :mod:`.sdsp_digits`, :mod:`.core_digits`: the models (``--model``);
* :mod:`.faults`: target memories and every run's fault list;
* :mod:`.engine`: running the runs (in process, worker processes, Dask clusters);
* :mod:`.journal`: the runs journal a killed campaign resumes from;
* :mod:`.outputs`: statistics, ``campaign.json``, CSV files, plots, the table;
* :mod:`.replay`: a campaign's runs again on the RTL or a board;
* :mod:`.reliability`: the statistics and fault processes;
* :mod:`.cli`: the command line.
"""
