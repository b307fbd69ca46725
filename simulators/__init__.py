"""Simulators of the external systems creditgw talks to (docs/protocols.md).

Nothing here imports from `gateway`, `adapters` or `mappings`: the simulators implement the wire
contract from their own code, so a disagreement with the other side shows up as a failing test.
"""

from simulators.runner import SYSTEMS, SimulatorSet, start_simulators

__all__ = ["SYSTEMS", "SimulatorSet", "start_simulators"]
