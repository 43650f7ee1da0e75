"""The Pulumi program: read the stack spec, build the components, export outputs."""

from pathlib import Path

from components.config import read_stack_spec
from components.program import build, export_outputs
from components.promotion import promotion_gate

ROOT = Path(__file__).resolve().parent

spec = read_stack_spec(ROOT)  # refuses invalid config before any resource is registered
# Refuses `pulumi up` when this stack would be ahead of its promotion.after stack.
export_outputs(build(spec, ROOT, gate=promotion_gate(spec)))
