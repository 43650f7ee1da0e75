"""Offline stand-ins for the promotion guard's StackReference.

At `pulumi up` the guard reads the `promotion.after` stack's deployed `rotation`
output. Offline there is no deployment, so the other stack's *config file* stands
in for it: its own plan (run under mocks, with its own references, recursively)
gives the outputs the StackReference mock returns. The reference is keyed by the
same name the program computes (`secrets_store.promotion.reference_name`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from secrets_store.errors import Problem, SpecError
from secrets_store.ordering import (
    cycle_problem,
    promotion_cycle,
    promotion_problems,
    reference_name,
)
from secrets_store.promotion import PromotionError
from secrets_store.spec import NAMESPACE
from secretsctl.offline.mockrun import run_program, runtime_project
from secretsctl.offline.stackfile import (
    StackConfig,
    StackFileError,
    load_stack_config,
    stack_file_name,
)

LONG_AGO = "1970-01-01T00:00:00Z"

# stack name -> its config (None: the stack has no file there)
Loader = Callable[[str], StackConfig | None]


def directory_loader(stacks_dir: Path) -> Loader:
    """Stack files of one directory (the working tree's stacks/, or a copy)."""

    def load(stack: str) -> StackConfig | None:
        path = stacks_dir / stack_file_name(stack)
        return load_stack_config(stack, path) if path.is_file() else None

    return load


def reference_outputs(
    config: StackConfig, load: Loader | None = None, _seen: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """`run_program(stack_outputs=...)` for `config`: the after stack's outputs by reference name.

    Empty when the stack follows none, or the after stack has no file (the guard then
    refuses: nothing to compare). Raises `SpecError` naming the after stack when its
    config is invalid.
    """
    after, configured = config.promotion_after, config.stack_reference
    if not after or after in _seen:
        return {}
    load = load or directory_loader(config.path.parent)
    try:
        other = load(after)
    except StackFileError as exc:
        raise SpecError([Problem(f"{NAMESPACE}:promotion.after", str(exc))]) from None
    if other is None:
        return {}
    try:
        run = run_program(
            other, stack_outputs=reference_outputs(other, load, (*_seen, config.stack))
        )
    except SpecError as exc:
        raise SpecError(
            [
                Problem(p.key, f"(in stack {after!r}, which this stack follows) {p.message}")
                for p in exc.problems
            ]
        ) from None
    outputs = dict(run.outputs)
    if not isinstance(outputs.get("rotation"), dict):
        # A program that exports no `rotation` (one that declares its secrets in code): the
        # positions its VersionedSecrets registered are the truth, with the file's records.
        from secretsctl.offline.plan import registered_secrets

        outputs["rotation"] = {
            name: {
                "current": entry["current"],
                "next": entry["next"],
                "stage": entry["stage"],
                **other.records_output(name),
            }
            for name, entry in registered_secrets(run).items()
        }
    return {reference_name(after, runtime_project(config), None, configured): outputs}


def offline_promotion_problems(
    config: StackConfig, outputs: dict[str, dict[str, Any]]
) -> list[Problem]:
    """The guard's verdict offline, before running the program (clean messages, no traceback)."""
    after = config.promotion_after
    if not after:
        return []
    name = reference_name(after, runtime_project(config), None, config.stack_reference)
    rotation = outputs.get(name, {}).get("rotation")
    return promotion_problems(
        config.stack, after, config.standings, rotation, soak=config.soak, key=config.position_key
    )


def stack_cycle(config: StackConfig, load: Loader | None = None) -> tuple[str, ...] | None:
    """The cycle the `promotion.after` chain from `config` runs into, read from the stack
    files (None: it ends). A stack whose file cannot be read ends it (its own refusal says
    why)."""
    load = load or directory_loader(config.path.parent)

    def after_of(stack: str) -> str | None:
        if stack == config.stack:
            return config.promotion_after
        try:
            other = load(stack)
        except StackFileError:
            return None
        return other.promotion_after if other is not None else None

    return promotion_cycle(config.stack, after_of)


def run_options(config: StackConfig, load: Loader | None = None) -> dict[str, Any]:
    """Keyword arguments for `run_program`/`plan_stack` that satisfy the StackReference.

    Raises `SpecError` when the stacks it follows form a cycle, `PromotionError` when this
    stack is ahead of the stack it follows.
    """
    cycle = stack_cycle(config, load)
    if cycle:
        raise SpecError([cycle_problem(config.stack, cycle)])
    outputs = reference_outputs(config, load)
    problems = offline_promotion_problems(config, outputs)
    if problems:
        raise PromotionError(problems)
    return {"stack_outputs": outputs}


def self_reference(config: StackConfig) -> dict[str, Any]:
    """Run options whose StackReference answers with this stack's own positions.

    For validating one stack's config on its own: the guard then passes, and the
    caller checks promotion separately (see `secretsctl.workflow.check`).
    """
    after = config.promotion_after
    if not after:
        return {"stack_outputs": {}}
    name = reference_name(after, runtime_project(config), None, config.stack_reference)
    # Its own positions, held since long ago: the guard (soak included) passes.
    rotation = {
        secret: {**entry, "reached": {entry["stage"]: LONG_AGO}}
        for secret, entry in config.rotation_output().items()
    }
    return {"stack_outputs": {name: {"rotation": rotation}}}


# ---- references to another project's stacks ---------------------------------------------

OUTPUTS_FILE_ENV = "SECRETSCTL_STACK_OUTPUTS"
"""A JSON file mapping a StackReference name to that stack's outputs, for a stack offline runs
cannot plan (`pulumi stack output --json --stack <name>` gives the inner part)."""
MAX_OUTPUTS_FILE = 4 * 1024 * 1024
MAX_BESIDE = 500
"""Folders looked at beside the project (and inside it) for another project, at most."""


def _outputs_file() -> dict[str, dict[str, Any]]:
    """The file `SECRETSCTL_STACK_OUTPUTS` names ({} when unset); `InvalidInput` in one line
    for one that cannot be read (never its contents: outputs may hold secrets)."""
    import json
    import os

    from secretsctl.errors import InvalidInput

    named = os.environ.get(OUTPUTS_FILE_ENV)
    if not named:
        return {}
    path = Path(named).expanduser()
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_OUTPUTS_FILE + 1)
        if len(data) > MAX_OUTPUTS_FILE:
            raise ValueError(f"larger than {MAX_OUTPUTS_FILE} bytes")
        parsed = json.loads(data)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else type(exc).__name__
        if isinstance(exc, ValueError) and "larger than" in str(exc):
            reason = str(exc)
        raise InvalidInput(
            f"{OUTPUTS_FILE_ENV}: cannot read {str(path)!r} as JSON, got {reason} (write "
            '{"<org>/<project>/<stack>": {<that stack\'s outputs>}})'
        ) from None
    if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
        raise InvalidInput(
            f"{OUTPUTS_FILE_ENV}: {str(path)!r} must map each StackReference name to an object "
            f"of outputs, got {type(parsed).__name__} of other things (write "
            '{"<org>/<project>/<stack>": {<that stack\'s outputs>}})'
        )
    return parsed


def _beside(config: StackConfig, project_name: str) -> Any:
    """The project named `project_name` in a folder beside this one's (or inside it), else
    None: a team's projects checked out side by side."""
    from secretsctl.offline.project import ProjectError, project_file, read_project

    if config.project is None:
        return None
    root = config.project.root
    try:
        beside = sorted(
            [
                *itertools.islice(root.parent.iterdir(), MAX_BESIDE),
                *itertools.islice(root.iterdir(), MAX_BESIDE),
            ]
        )
    except OSError:
        return None
    for folder in beside:
        if folder == root or not folder.is_dir() or folder.name.startswith("."):
            continue
        file = project_file(folder)
        if file is None:
            continue
        try:
            project = read_project(file)
        except ProjectError:
            continue
        if project.name == project_name:
            return project
    return None


def other_project_outputs(
    config: StackConfig, names: set[str], seen: tuple[str, ...] = ()
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Outputs of other projects' stacks by reference name, for the StackReferences a run of
    `config` read and could not answer: from the file `SECRETSCTL_STACK_OUTPUTS` names, else
    from the plan of that project's stack when the project sits beside this one.

    Returns (outputs found, a line per reference answered by neither, saying where it
    looked)."""
    from secretsctl.offline.mockrun import run_program

    named = _outputs_file()
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for name in sorted(names):
        if name in named:
            found[name] = named[name]
            continue
        parts = name.split("/")
        if len(parts) not in (2, 3) or name in seen:
            missing.append(f"StackReference {name}: not a stack of another project offline")
            continue
        project_name, stack = parts[-2], parts[-1]
        other = _beside(config, project_name)
        path = other.stacks_dir / stack_file_name(stack) if other is not None else None
        if path is None or not path.is_file():
            where = (
                f"no project named {project_name!r} beside this one"
                if other is None
                else f"project {project_name!r} has no {other.stack_label(stack_file_name(stack))}"
            )
            missing.append(f"StackReference {name}: {where}")
            continue
        try:
            other_config = load_stack_config(stack, path, project=other)
        except StackFileError as exc:
            raise SpecError([Problem(f"StackReference {name}", str(exc))]) from None
        found[name] = dict(run_program(other_config, reference_chain=(*seen, name)).outputs)
    return found, missing
