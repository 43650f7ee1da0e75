"""The promotion guard: pure comparison, and the real program under the mock runtime."""

from __future__ import annotations

import copy

import pulumi
import pytest

import secretsctl.offline.mockrun as mockrun
from secrets_store.ordering import ahead_problems, cycle_problem, promotion_cycle, reference_name
from secrets_store.promotion import PromotionError
from secrets_store.rotation import Position, is_ahead
from tests.conftest import ACCOUNT, BASE_NAMESPACE, stack_config
from tests.workflow_support import Repo, secretsctl

REFERENCE = "organization/secrets-store/dev"
CLOUDFLARE_PREFIX = "cloudflare:"


@pytest.mark.parametrize(
    ("mine", "theirs", "ahead"),
    [
        (Position(1), Position(1), False),  # level
        (Position(1), Position(1, "fallback", 2), False),  # behind by one stage
        (Position(1, "fallback", 2), Position(1, "fallback", 2), False),
        (Position(1, "fallback", 2), Position(1), True),  # started before the other stack
        (Position(1, "swapped", 2), Position(1, "fallback", 2), True),
        (Position(2), Position(1, "swapped", 2), True),  # finished first
        (Position(1, "fallback", 3), Position(1, "fallback", 2), True),  # another next version
        (Position(2), Position(3), False),
    ],
)
def test_is_ahead_table(mine, theirs, ahead):
    assert is_ahead(mine, theirs) is ahead


def test_ahead_problem_names_the_key_both_positions_and_the_fix():
    problems = ahead_problems(
        "prod",
        "staging",
        {"api_key": Position(1, "fallback", 2)},
        {"api_key": {"current": 1, "next": None, "stage": "steady"}},
    )
    assert [str(p) for p in problems] == [
        "secrets-store:rotation.api_key: is ahead of stack 'staging', got v1 → v2 fallback here "
        "and v1 steady in staging (deploy staging first, or run "
        "`secretsctl promote --from staging --to prod`)"
    ]


def test_a_refusal_names_the_key_the_stack_file_writes_the_position_under(tmp_path):
    """Today's form names `rotation.<S>`; a first-release file, `secrets.<S>`: where the
    operator looks. Both through `check`, which reads the files."""
    from tests.workflow_support import secretsctl

    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: shop\nruntime: python\nstackConfigDir: stacks\n")
    head = f"config:\n  secrets-store:accountId: {ACCOUNT}\n"
    secret = "  secrets-store:secrets:\n    api_key: {kind: api_key, source: generate"
    (root / "stacks" / "Pulumi.dev.yaml").write_text(head + secret + "}\n")
    follows = "  secrets-store:promotion: {after: dev}\n"
    staging = root / "stacks" / "Pulumi.staging.yaml"
    for written, key in (
        ("}\n  secrets-store:rotation:\n    api_key: {current: 1, next: 2, stage: fallback}\n",
         "secrets-store:rotation.api_key"),
        (", current: 1, next: 2, stage: fallback}\n", "secrets-store:secrets.api_key"),
    ):  # fmt: skip
        staging.write_text(head + follows + secret + written)
        result = secretsctl("check", "--cwd", str(root))
        assert result.exit_code == 2, result.stdout
        assert f"Pulumi.staging.yaml: {key}: is ahead of stack 'dev'" in result.stderr


def test_a_secret_the_other_stack_does_not_declare_is_not_compared():
    assert ahead_problems("prod", "staging", {"new": Position(4, "swapped", 5)}, {}) == []


def test_no_rotation_output_at_all_is_a_refusal():
    problems = ahead_problems("prod", "staging", {"api_key": Position(1)}, None)
    assert problems[0].key == "secrets-store:promotion.after"
    assert "stack 'staging' has no `rotation` output" in problems[0].message


def test_reference_name_defaults_to_organization_project_stack_and_can_be_configured():
    assert reference_name("staging", "secrets-store") == "organization/secrets-store/staging"
    assert reference_name("staging", "secrets-store", "acme") == "acme/secrets-store/staging"
    assert reference_name("staging", "p", "acme", "other/x/staging") == "other/x/staging"


# ---- under the mock runtime: the real __main__.py, as `pulumi up` runs it ----------------


def following_dev(position: dict, **promotion) -> dict:
    namespace = copy.deepcopy(BASE_NAMESPACE)
    namespace["promotion"] = {"after": "dev", **promotion}
    namespace["secrets"]["api_key"].update(position)
    return namespace


def dev_outputs(current: int = 1, stage: str = "steady", next_: int | None = None) -> dict:
    return {
        "rotation": {
            "api_key": {
                "kind": "api_key",
                "current": current,
                "next": next_,
                "stage": stage,
                "cloudflare_names": [],
            }
        }
    }


@pytest.fixture
def registered(monkeypatch) -> list[str]:
    """Types the program asks the engine to register, even when the run then fails."""
    types: list[str] = []
    original = mockrun.RecordingMonitor.RegisterResource

    def record(self, request):
        types.append(request.type)
        return original(self, request)

    monkeypatch.setattr(mockrun.RecordingMonitor, "RegisterResource", record)
    return types


def test_up_proceeds_when_this_stack_is_behind_the_stack_it_follows(registered):
    # GIVEN staging steady at v1 and dev deployed at fallback v1 → v2
    namespace = following_dev({"current": 1})
    # WHEN the program runs (as `pulumi up`)
    run = mockrun.run_program(
        stack_config(namespace, _values(), stack="staging"),
        stack_outputs={REFERENCE: dev_outputs(1, "fallback", 2)},
    )
    # THEN every Cloudflare resource is registered
    assert any(r.type.startswith(CLOUDFLARE_PREFIX) for r in run.resources)
    assert run.outputs["rotation"]["api_key"]["stage"] == "steady"


@pytest.mark.parametrize(
    "store",
    [{"name": "default_secrets_store"}, {"id": "6f1c2e9a7b3d4c5e8f9a0b1c2d3e4f5a"}],
    ids=["looked-up-store", "store-by-id"],
)
def test_up_is_refused_before_any_cloudflare_resource_when_this_stack_is_ahead(registered, store):
    # GIVEN staging swapped while dev is deployed at fallback (the store looked up, or given
    # by id: then its id is known at once, and the gate must still hold every secret back)
    namespace = following_dev({"current": 1, "next": 2, "stage": "swapped"})
    namespace["store"] = store
    # WHEN the program runs (as `pulumi up`)
    with pytest.raises(Exception, match=r"secrets.api_key: is ahead of stack 'dev'"):
        mockrun.run_program(
            stack_config(namespace, _values(), stack="staging"),
            stack_outputs={REFERENCE: dev_outputs(1, "fallback", 2)},
        )
    # THEN nothing of Cloudflare's was sent to the engine
    assert registered, "the program did not run"
    assert [t for t in registered if t.startswith(CLOUDFLARE_PREFIX)] == []


def test_an_adopted_version_is_held_back_by_the_guard_too(registered):
    # GIVEN staging ahead of dev, its live versions adopted by id (their scopes and comment
    # are managed: an update is a change to Cloudflare too)
    namespace = following_dev(
        {"current": 1, "next": 2, "stage": "swapped"},
    )
    namespace["secrets"]["api_key"]["importIds"] = {
        "1": f"{ACCOUNT}/6f1c2e9a7b3d4c5e8f9a0b1c2d3e4f5a/0123456789abcdef0123456789abcdef",
        "2": f"{ACCOUNT}/6f1c2e9a7b3d4c5e8f9a0b1c2d3e4f5a/fedcba9876543210fedcba9876543210",
    }
    with pytest.raises(Exception, match=r"api_key: is ahead of stack 'dev'"):
        mockrun.run_program(
            stack_config(namespace, _values(), stack="staging"),
            stack_outputs={REFERENCE: dev_outputs(1, "fallback", 2)},
        )
    # THEN no adopted version was sent to the engine (nor anything of Cloudflare's)
    assert registered, "the program did not run"
    assert [t for t in registered if "AdoptedSecretVersion" in t] == []
    assert [t for t in registered if t.startswith(CLOUDFLARE_PREFIX)] == []


def test_up_is_refused_when_the_referenced_stack_has_no_rotation_output(registered):
    namespace = following_dev({"current": 1})
    with pytest.raises(Exception, match=r"stack 'dev' has no `rotation` output"):
        mockrun.run_program(stack_config(namespace, _values(), stack="staging"))
    assert [t for t in registered if t.startswith(CLOUDFLARE_PREFIX)] == []


def test_the_configured_stack_reference_name_is_the_one_read():
    namespace = following_dev({"current": 1}, stackReference="acme/secrets-store/dev")
    config = stack_config(namespace, _values(), stack="staging")
    run = mockrun.run_program(config, stack_outputs={"acme/secrets-store/dev": dev_outputs()})
    assert run.outputs["rotation"]["api_key"]["current"] == 1
    with pytest.raises(Exception, match=r"has no `rotation` output"):
        mockrun.run_program(config, stack_outputs={REFERENCE: dev_outputs()})


def test_preview_refuses_as_up_does(monkeypatch, registered):
    # A preview that passed is an `up` that will pass: the guard refuses at both.
    monkeypatch.setattr(pulumi.runtime, "is_dry_run", lambda: True)
    namespace = following_dev({"current": 1, "next": 2, "stage": "fallback"})
    with pytest.raises(Exception, match=r"is ahead of stack 'dev'"):
        mockrun.run_program(
            stack_config(namespace, _values(), stack="staging"),
            stack_outputs={REFERENCE: dev_outputs()},
        )
    assert [t for t in registered if t.startswith(CLOUDFLARE_PREFIX)] == []


def test_offline_plan_answers_the_reference_from_the_after_stack_file(tmp_path):
    repo = Repo(tmp_path / "repo")
    ok = secretsctl("plan", "--stack", "staging", "--config-file", str(repo.path("staging")))
    assert ok.exit_code == 0, ok.stderr
    repo.set_api_key("staging", "current: 1\nnext: 2\nstage: swapped")
    repo.add_value("staging", "api_key_v2")
    refused = secretsctl("plan", "--stack", "staging", "--config-file", str(repo.path("staging")))
    assert refused.exit_code == 2
    assert refused.stdout == ""
    assert "secrets-store:secrets.api_key: is ahead of stack 'dev'" in refused.stderr


def test_promotion_error_is_a_spec_error_pulumi_prints_without_traceback():
    error = PromotionError([])
    assert isinstance(error, ValueError) and isinstance(error, pulumi.RunError)


def _values() -> dict[str, str]:
    from tests.conftest import BASE_VALUES

    return dict(BASE_VALUES)


# ---- cycles: a chain of promotion.after that never ends -----------------------------------


@pytest.mark.parametrize(
    ("follows", "start", "cycle"),
    [
        ({"staging": "dev", "prod": "staging"}, "prod", None),  # ends at dev
        (
            {"dev": "prod", "prod": "staging", "staging": "dev"},
            "dev",
            ("dev", "prod", "staging", "dev"),
        ),
        (
            {"dev": "prod", "prod": "staging", "staging": "dev"},
            "staging",
            ("staging", "dev", "prod", "staging"),
        ),
        ({"dev": "dev"}, "dev", ("dev", "dev")),  # a stack following itself
        ({"x": "dev", "dev": "prod", "prod": "dev"}, "x", ("dev", "prod", "dev")),  # reached
        ({"prod": "gone"}, "prod", None),  # a stack with no file ends the chain
    ],
)
def test_promotion_cycle_table(follows, start, cycle):
    assert promotion_cycle(start, follows.get) == cycle


def test_cycle_problem_names_the_cycle_and_the_fix_in_one_line():
    problem = cycle_problem("dev", ("dev", "prod", "staging", "dev"))
    assert str(problem) == (
        "secrets-store:promotion.after: stacks form a cycle, got dev -> prod -> staging -> dev "
        "(the stack a change reaches first follows no stack: remove promotion.after from its "
        "file, and let each other stack follow the one before it)"
    )
    assert str(cycle_problem("x", ("dev", "prod", "dev"))).startswith(
        "secrets-store:promotion.after: stacks form a cycle, reached from x, got dev -> prod -> dev"
    )
    assert cycle_problem("dev", ("dev", "dev")).message == (
        "names this stack itself, got 'dev' (name the stack before it)"
    )


@pytest.fixture(scope="module")
def cycle_repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """dev after prod, prod after staging (as shipped), staging after dev (as shipped)."""
    repo = Repo(tmp_path_factory.mktemp("cycle") / "repo")
    repo.sub(
        "dev",
        r"^  secrets-store:secrets:\n",
        "  secrets-store:promotion:\n    after: prod\n  secrets-store:secrets:\n",
    )
    return repo


CYCLE = "secrets-store:promotion.after: stacks form a cycle, got "

CYCLE_RUNS = {
    "plan": (["plan", "--stack", "dev", "--config-file", "{dev}"], "dev -> prod -> staging -> dev"),
    "diff": (
        ["diff", "--stack", "prod", "--base", "HEAD", "--root", "{root}"],
        "prod -> staging -> dev -> prod",
    ),
    "export": (
        [
            "export",
            "wrangler",
            "--stack",
            "staging",
            "--worker",
            "api",
            "--config-file",
            "{staging}",
        ],
        "staging -> dev -> prod -> staging",
    ),
    "rotate": (
        ["rotate", "api_key", "--stack", "dev", "--root", "{root}"],
        "dev -> prod -> staging -> dev",
    ),
}


@pytest.mark.parametrize("command", list(CYCLE_RUNS))
def test_every_command_refuses_a_promotion_cycle_in_one_line_naming_it(cycle_repo, command):
    argv, cycle = CYCLE_RUNS[command]
    paths = {"root": cycle_repo.root, **{s: cycle_repo.path(s) for s in ("dev", "staging")}}
    before = cycle_repo.read("dev")
    result = secretsctl(*(arg.format(**paths) for arg in argv))
    assert (result.exit_code, result.stdout) == (2, ""), result.output
    assert result.stderr.splitlines() == [
        line for line in result.stderr.splitlines() if "Traceback" not in line
    ]
    assert [line for line in result.stderr.splitlines() if line.startswith(CYCLE)] == [
        result.stderr.splitlines()[-1]
    ], result.stderr
    assert result.stderr.splitlines()[-1].startswith(CYCLE + cycle + " ("), result.stderr
    assert cycle_repo.read("dev") == before  # rotate wrote nothing


@pytest.mark.parametrize("base", [None, "HEAD"])
def test_check_names_the_cycle_once_and_no_ahead_noise(cycle_repo, base):
    args = ["--base", base] if base else []
    result = secretsctl("check", "--root", str(cycle_repo.root), *args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"stacks/Pulumi.dev.yaml: {CYCLE}dev -> prod -> staging -> dev (the stack a change "
        "reaches first follows no stack: remove promotion.after from its file, and let each "
        "other stack follow the one before it)"
    ]


def test_a_stack_following_itself_is_refused_by_plan_and_check_alike(tmp_path):
    repo = Repo(tmp_path / "repo")
    repo.sub("staging", r"after: dev", "after: staging")
    line = (
        "secrets-store:promotion.after: names this stack itself, got 'staging' (name the "
        "stack before it)"
    )
    plan = secretsctl("plan", "--stack", "staging", "--config-file", str(repo.path("staging")))
    assert (plan.exit_code, plan.stderr.splitlines()) == (2, [line])
    checked = secretsctl("check", "--root", str(repo.root))
    assert checked.exit_code == 2
    assert checked.stderr.splitlines() == [
        f"stacks/Pulumi.staging.yaml: {line}",
        f"stacks/Pulumi.prod.yaml: {CYCLE.replace(', got', ', reached from prod, got')}"
        "staging -> staging (the stack a change reaches first follows no stack: remove "
        "promotion.after from its file, and let each other stack follow the one before it)",
    ]
