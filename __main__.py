"""The Pulumi program: read the stack spec, build the components, export outputs."""

from pathlib import Path

from components.config import read_stack_spec
from components.program import build, export_outputs

ROOT = Path(__file__).resolve().parent

spec = read_stack_spec(ROOT)  # refuses invalid config before any resource is registered
export_outputs(build(spec, ROOT))
