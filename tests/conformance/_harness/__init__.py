"""The conformance harness shared by every building block.

A block plugs in with a ``Block`` (``tests/conformance/<block>/block.py``, which
``tests/conformance/blocks.py`` discovers), plus its cases and ``components.yaml`` matrix in its
folder.
It then gets, without code of its own:

- fixtures (``tests/conformance/conftest.py``): ``case`` (one matrix entry; skips, or fails
  under ``CI=true``, when its server is unreachable), ``make_component``, ``component`` (gated
  by ``@requires(...)``), ``unique_name``, ``key``;
- the generic suites at the top of ``tests/conformance``: catalog soundness of every catalog
  entry, lifecycle of every matrix entry, and feature coherence (declared features exactly as
  the matrix says; undeclared ones really unsupported).

Modules: ``block`` (the Block spec), ``matrix`` (loading the matrix, building components
through the runtime's real loader), ``catalog`` (the catalog checker), ``gating`` (feature
marks), ``waiting`` (``eventually``).
"""

from tests.conformance._harness.block import Block, FeatureCheck, Probe
from tests.conformance._harness.catalog import entry_problems, load_class, missing_drivers
from tests.conformance._harness.gating import FEATURE_MARK, missing_features, requires
from tests.conformance._harness.matrix import (
    APP_ID,
    Case,
    MakeComponent,
    build_component,
    load_matrix,
)
from tests.conformance._harness.waiting import eventually

__all__ = [
    "APP_ID",
    "FEATURE_MARK",
    "Block",
    "Case",
    "FeatureCheck",
    "MakeComponent",
    "Probe",
    "build_component",
    "entry_problems",
    "eventually",
    "load_class",
    "load_matrix",
    "missing_drivers",
    "missing_features",
    "requires",
]
