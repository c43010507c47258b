"""The scale of load units: what the reference server carries. At the ground floor, with nothing of ours
imported, because both the settings model (its defaults) and the domain (Scalelite's multiplier) need it.
"""

from __future__ import annotations

#: Load units of the reference server: BBB's minimum (8 cores, 16 GB), about 200 typical users under the
#: default weights (`LoadWeights`, chalicelib/config.py). A provider's `capacity_units` defaults to it, and
#: it is the size Scalelite's load multiplier 1.0 stands for (`domain.fleet.scalelite_multiplier`):
#: servers registered by hand, like an owned pool, keep Scalelite's default 1.0, so placement stays fair
#: between them and the servers bbbscale registers when they are of this size. The default absolute
#: headroom is one such server.
REFERENCE_SERVER_UNITS = 300.0
