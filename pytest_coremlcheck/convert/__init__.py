"""Building converted models: on-the-fly conversion of a source with ``ct.convert``."""
