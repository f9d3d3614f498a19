"""Applications built on the kit: the digits demo (:mod:`.demo`), the delay task
(:mod:`.delay_task`), SDSP online learning (:mod:`.sdsp_digits`) and the neurocore digits
network as a campaign model (:mod:`.core_digits`)."""
