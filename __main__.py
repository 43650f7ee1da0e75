"""The Pulumi program: read the stack spec, build the components, export outputs."""

from pathlib import Path

from secrets_store.config import read_stack_spec
from secrets_store.program import build, export_outputs
from secrets_store.promotion import promotion_gate

ROOT = Path(__file__).resolve().parent

spec = read_stack_spec(ROOT)  # refuses invalid config before any resource is registered
# Refuses `pulumi up` when this stack would be ahead of its promotion.after stack.
export_outputs(spec, build(spec, ROOT, gate=promotion_gate(spec)))
