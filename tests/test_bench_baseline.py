"""The benchmark's baselines register what the program registers (`benchmarks/measure.py`).

`make bench` compares our program with a hand-written one registering the same Cloudflare
resources, and with that one under empty components of our types (the SDK's own cost of
components). Both comparisons only mean something while the programs register the same.
"""

from __future__ import annotations

from benchmarks.configs import generated
from benchmarks.measure import identical, run


def test_both_baselines_register_our_resources_and_the_components_one_our_urns():
    config = generated(10, 5)
    ours = run(config, "ours")
    baseline = run(config, "baseline", ours.state)
    with_components = run(config, "components", ours.state)
    assert identical(ours, baseline) == []
    assert identical(ours, with_components) == []
    # The components run is ours without our code: the very same URNs, components included.
    assert sorted(r.urn for r in with_components.resources) == sorted(r.urn for r in ours.resources)
    assert {r.urn for r in baseline.resources} != {r.urn for r in ours.resources}
