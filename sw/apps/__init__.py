"""Applications built on the kit: the digits demo (:mod:`.demo`) and its energy estimate
(:mod:`.demo_energy`), the delay task (:mod:`.delay_task`) and SDSP online learning
(:mod:`.sdsp_digits`). Their fault-injection models are in :mod:`sw.campaign`."""
