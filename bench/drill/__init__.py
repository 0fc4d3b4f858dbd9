"""The drill: the seed's outage (a surge, then an infinite loop) replayed on the lab,
with and without Holdfast's protections, measured. ``python -m bench.drill``."""
