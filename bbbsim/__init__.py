"""The simulator: a simulated world (BBB servers, Scalelite, clouds), its traces, replay and demo.

It sits beside production (chalicelib/), not inside it: production never imports it, and finds it only
through the entry point `bbbscale.plugins: simulator` (bbbsim/plugin.py, chalicelib/plugins.py), so the
Lambda package, which holds app.py and chalicelib/ only, does without it. The simulator uses production
freely: the real service runs on its world through the same ports as on a real fleet.
"""
