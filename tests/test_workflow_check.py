"""`secretsctl check`: the offline pull-request gate, against a base ref in a temporary repo."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from secrets_store.rotation import Position
from secretsctl.workflow.check import move_problems
from tests.workflow_support import (
    CANARY_CIPHERTEXT,
    PROJECT_ROOT,
    Repo,
    git,
    secretsctl,
    without_legacy_notice,
)

# Copies of the example stacks go through command after command: identical program runs
# are run once per module (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("remembered_runs")


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


def check(repo: Repo, *args: str):
    # the copies are in the legacy form: its one notice aside, stderr is the gate's own
    return without_legacy_notice(secretsctl("check", "--root", str(repo.root), *args))


def test_unchanged_example_stacks_pass(repo):
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 0, result.stderr
    assert "check: 3 stacks OK against HEAD." in result.stdout


def test_invalid_config_fails_with_one_line_naming_the_file_and_key(repo):
    repo.sub("staging", r"kind: api_key", "kind: bogus")
    result = check(repo)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines == [
        "stacks/Pulumi.staging.yaml: secrets-store:secrets.api_key.kind: unknown kind, "
        "got 'bogus' (use one of api_key, encryption_key, signing_key, json, opaque)"
    ]


def test_a_secret_moved_two_stages_in_one_change_is_refused(repo):
    # GIVEN dev at fallback on the base branch; WHEN the change finishes it at once
    repo.set_api_key("dev", "current: 2")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.api_key: moved 2 stages in one change, "
        "got v1 → v2 fallback at HEAD and v2 steady here (one stage per change: "
        "`secretsctl rotate api_key` from the base's position; a leaked key: "
        '`secretsctl rotate api_key --emergency --reason "why"`)'
    ]


def test_a_finished_rotation_counts_as_one_stage(repo):
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    repo.commit("dev swapped")
    repo.set_api_key("dev", "current: 2")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 0, result.stderr


def test_a_new_secret_and_a_new_stack_count_right(repo):
    # a new secret in dev, already mid-rotation: it has no base position to compare
    repo.sub(
        "dev",
        r"^    db_config:\n",
        "    fresh_key:\n      kind: signing_key\n      source: generate\n      current: 4\n"
        "      next: 5\n      stage: swapped\n    db_config:\n",
    )
    # a new stack (no file at the base), following dev
    text = repo.read("staging").replace("stg_", "qa_")
    repo.path("qa").write_text(text)
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 0, result.stderr
    assert "4 stacks OK" in result.stdout


def test_a_stack_ahead_of_its_promotion_after_stack_is_refused(repo):
    repo.set_api_key("staging", "current: 1\nnext: 2\nstage: swapped")
    repo.add_value("staging", "api_key_v2")
    result = check(repo)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "stacks/Pulumi.staging.yaml: secrets-store:secrets.api_key: is ahead of stack 'dev', "
        "got v1 → v2 swapped here and v1 → v2 fallback in dev (deploy dev first, or run "
        "`secretsctl promote --from dev --to staging`)"
    ]


def test_promotion_after_naming_a_missing_stack_is_refused(repo):
    repo.sub("prod", r"after: staging", "after: stagin")
    result = check(repo)
    assert result.exit_code == 2
    assert (
        "stacks/Pulumi.prod.yaml: secrets-store:promotion.after: names a stack with no file, "
        "got 'stagin'" in result.stderr
    )


def test_deleting_a_version_another_stack_in_the_account_still_binds_is_refused(repo):
    # GIVEN staging shares dev's account and (wrongly) its name prefix, so both bind
    # dev_api_key_v1; dev is swapped at the base
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    repo.sub("staging", r"namePrefix: stg_", "namePrefix: dev_")
    repo.commit("shared prefix")
    # WHEN dev finishes its rotation, deleting dev_api_key_v1
    repo.set_api_key("dev", "current: 2")
    result = check(repo, "--base", "HEAD")
    # THEN refused: staging's workers still bind it
    assert result.exit_code == 2
    assert (
        "stacks/Pulumi.dev.yaml: secrets-store:secrets: deletes secret version dev_api_key_v1 "
        "while worker api.PRIMARY_KEY of stack 'staging' binds it" in result.stderr
    )


def test_an_unknown_base_ref_is_invalid_input(repo):
    result = check(repo, "--base", "no-such-branch")
    assert result.exit_code == 2
    assert "--base: no such git commit, got 'no-such-branch'" in result.stderr


def test_check_never_prints_secure_values(repo):
    repo.sub("dev", r"secure: v1:bm9uY2UwMDAwMDAy:\S+", f"secure: {CANARY_CIPHERTEXT}")
    repo.sub("dev", r"kind: api_key", "kind: bogus")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert CANARY_CIPHERTEXT not in result.output and "Q0FOQVJZ" not in result.output


@pytest.mark.parametrize(
    ("before", "after", "ok"),
    [
        (Position(1), Position(1), True),  # unchanged
        (Position(1), Position(1, "fallback", 2), True),  # start
        (Position(1, "fallback", 2), Position(1, "swapped", 2), True),  # swap
        (Position(1, "swapped", 2), Position(2), True),  # finish
        (Position(1, "swapped", 2), Position(1, "fallback", 2), True),  # roll back one stage
        (Position(1, "fallback", 2), Position(1), True),  # abort before anything reads v2
        (Position(1), Position(1, "swapped", 2), False),  # skips fallback
        (Position(1, "fallback", 2), Position(2), False),  # skips swapped
        (Position(2), Position(1, "swapped", 2), False),  # undoes a finish: v1 is gone
        (Position(1), Position(3), False),  # two whole rotations
    ],
)
def test_move_rules_table(before, after, ok):
    problems = move_problems({"s": before}, {"s": after}, "main")
    assert (problems == []) is ok, problems


# ---- the gate refuses every change that destroys a key or loses data --------------------------
# Each refusal: exit 2, exactly one line naming the stack file, the key and the safe way, and
# never a `secure:` ciphertext of any stack file.

REAL_ACCOUNT = "0123456789abcdef0123456789abcdef"


def refused(repo: Repo, result, *lines: str, notices: tuple[str, ...] = ()) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [*notices, *lines]
    leaked = [c for c in repo.ciphertexts() if c in result.output]
    assert leaked == []


def passes(result) -> None:
    assert result.exit_code == 0, result.stderr


# -- a `secure:` value of a version that stays live ---------------------------------------------


def test_a_changed_value_of_a_live_version_is_refused(repo):
    # GIVEN dev at api_key v1 → v2 fallback; WHEN v1's value is replaced in place
    repo.sub("dev", r"secure: v1:bm9uY2UwMDAwMDAx:\S+", "secure: v1:bmV3bm9uY2U=:bmV3LXZhbHVl")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:api_key_v1: changes the value of live version 1 "
        "of secret 'api_key' in place, got a different `secure:` ciphertext than at HEAD (an "
        "instant rotation with no fallback: keep this value and rotate to a new version with "
        "`secretsctl rotate api_key --stack dev`)",
    )


def test_a_changed_value_of_the_new_version_while_it_moves_on_is_refused(repo):
    # v2 is already bound as the fallback: swapping in a different v2 is no rotation at all
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    repo.sub("dev", r"secure: v1:bm9uY2UwMDAwMDAy:\S+", f"secure: {CANARY_CIPHERTEXT}")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:api_key_v2: changes the value of live version 2 "
        "of secret 'api_key' in place, got a different `secure:` ciphertext than at HEAD (an "
        "instant rotation with no fallback: keep this value and rotate to a new version with "
        "`secretsctl rotate api_key --stack dev`)",
    )


def test_values_of_versions_added_or_deleted_and_rewritten_yaml_are_not_changes(repo):
    # staging starts a rotation (a new v2 value), dev finishes one (v1 and its value go),
    # and a ciphertext only re-quoted is the same ciphertext
    repo.set_api_key("dev", "current: 1\nnext: 2\nstage: swapped")
    repo.commit("dev swapped")
    repo.set_api_key("dev", "current: 2")
    repo.sub("dev", r"^  secrets-store:api_key_v1:\n    secure: \S+\n", "")
    repo.sub("dev", r"secure: (v1:bm9uY2UwMDAwMDAy:\S+)", r'secure: "\1"')
    repo.set_api_key("staging", "current: 1\nnext: 2\nstage: fallback")
    repo.add_value("staging", "api_key_v2")
    passes(check(repo, "--base", "HEAD"))


# -- an encryption_key finished without recorded re-encryption ----------------------------------


def vault_swapped_at_base(repo: Repo) -> None:
    repo.set_position("dev", "vault_key", "current: 1\nnext: 2\nstage: swapped")
    repo.commit("vault_key swapped")


def test_a_hand_edited_encryption_key_finish_without_the_record_is_refused(repo):
    vault_swapped_at_base(repo)
    repo.set_position("dev", "vault_key", "current: 2")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.vault_key.reencrypted: deletes "
        "encryption_key version vault_key_v1 without a recorded re-encryption, got nothing here "
        "(re-encrypt every value encrypted with it under v2, then finish with `secretsctl rotate "
        "vault_key --stack dev --reencrypted`, which records it)",
    )


@pytest.mark.parametrize(("record", "got"), [("1", "1"), ("retired", "'retired'"), ("3", "3")])
def test_a_finish_recording_another_version_is_refused(repo, record, got):
    vault_swapped_at_base(repo)
    repo.set_position("dev", "vault_key", "current: 2")
    repo.add_setting("dev", "vault_key", f"reencrypted: {record}")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert f"without a recorded re-encryption, got {got} here" in result.stderr


def test_rotate_reencrypted_records_the_reencryption_and_check_accepts_every_stage(repo):
    for stage in ("fallback", "swapped", "finish"):
        rotated = secretsctl(
            "rotate", "vault_key", "--stack", "dev", "--root", str(repo.root), "--reencrypted"
        )
        assert rotated.exit_code == 0, rotated.stderr
        passes(check(repo, "--base", "HEAD"))
        repo.commit(stage)
    entry = repo.read("dev")[slice(*repo.entry("dev", "vault_key"))]
    assert "      current: 2\n      reencrypted: 2\n" in entry


def test_aborting_an_encryption_key_rotation_before_the_swap_needs_no_record(repo):
    # v2 was only ever the fallback: nothing was encrypted with it
    repo.set_position("dev", "vault_key", "current: 1\nnext: 2\nstage: fallback")
    repo.commit("vault_key fallback")
    repo.set_position("dev", "vault_key", "current: 1")
    passes(check(repo, "--base", "HEAD"))


# -- a live secret removed, renamed or switched ------------------------------------------------


def test_removing_a_secret_with_its_last_binding_in_one_change_is_refused(repo):
    repo.remove("dev", "hmac_key")
    repo.remove("dev", "signer")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.hmac_key: removes or renames secret "
        "'hmac_key' while worker signer.HMAC_SECRET of stack 'dev' binds it at HEAD, got no "
        "secrets.hmac_key here (move every binding off it and deploy that first, then remove it)",
    )


def test_removing_a_secret_no_worker_binds_any_more_passes(repo):
    repo.remove("dev", "signer")
    repo.commit("signer goes first")
    repo.remove("dev", "hmac_key")
    passes(check(repo, "--base", "HEAD"))


def test_renaming_a_bound_secret_is_refused(repo):
    repo.sub("dev", r"^    hmac_key:", "    hmac_secret:")
    repo.sub("dev", r"HMAC_SECRET: hmac_key", "HMAC_SECRET: hmac_secret")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.hmac_key: removes or renames secret "
        "'hmac_key' while worker signer.HMAC_SECRET of stack 'dev' binds it at HEAD, got no "
        "secrets.hmac_key here (move every binding off it and deploy that first, then remove it)",
    )


def test_switching_a_bound_secret_from_generate_to_config_is_refused(repo):
    repo.sub("dev", r"(    hmac_key:\n      kind: signing_key\n)      source: generate", r"\1")
    repo.add_value("dev", "hmac_key_v1")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.hmac_key.source: switches the source of "
        "secret 'hmac_key' while worker signer.HMAC_SECRET of stack 'dev' binds it here, got "
        "source config here and generate at HEAD (a new source gives every live version a new "
        "value: move every binding off it and deploy that first, or declare a new secret with "
        "that source)",
    )


def test_a_new_name_prefix_renames_every_bound_secret_and_is_refused_once(repo):
    repo.sub("dev", r"namePrefix: dev_", "namePrefix: dv_")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:namePrefix: renames in Cloudflare (a new "
        "namePrefix) every version of secret 'api_key' while worker api.PRIMARY_KEY of stack "
        "'dev' binds it at HEAD, got 'dv_' here and 'dev_' at HEAD (keep namePrefix: set up a "
        "new stack for the new one instead)",
    )


def test_a_new_account_moves_every_secret_but_setting_the_placeholder_does_not(repo):
    # GIVEN prod's placeholder account replaced: its first real setting moves nothing
    repo.sub("prod", r"accountId: REPLACE_ME_PROD_ACCOUNT_ID", f"accountId: {REAL_ACCOUNT}")
    passes(check(repo, "--base", "HEAD"))
    repo.commit("prod's real account")
    # WHEN it changes again
    repo.sub("prod", rf"accountId: {REAL_ACCOUNT}", "accountId: " + "f" * 32)
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "stacks/Pulumi.prod.yaml: secrets-store:accountId: renames in Cloudflare (a new "
        "accountId) every version of secret 'api_key' while worker api.PRIMARY_KEY of stack "
        f"'prod' binds it at HEAD, got '{'f' * 32}' here and '{REAL_ACCOUNT}' at HEAD (keep "
        "accountId: set up a new stack for the new one instead)"
    ]


def test_removing_an_encryption_key_needs_a_retire_step_even_when_unbound(repo):
    repo.remove("dev", "vault")
    repo.commit("vault worker goes first")
    repo.remove("dev", "vault_key")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.vault_key: removes or renames "
        "encryption_key 'vault_key' without a retire step, got no secrets.vault_key here and no "
        "reencrypted: retired at HEAD (re-encrypt or delete everything it encrypted, then set "
        "secrets.vault_key.reencrypted: retired in a change of its own and deploy it before this "
        "one)",
    )


def test_an_encryption_key_retired_and_unbound_at_the_base_may_go(repo):
    repo.remove("dev", "vault")
    repo.add_setting("dev", "vault_key", "reencrypted: retired")
    passes(check(repo, "--base", "HEAD"))  # the retire step itself is a valid change
    repo.commit("vault_key retired, its worker gone")
    repo.remove("dev", "vault_key")
    passes(check(repo, "--base", "HEAD"))


def test_a_retired_encryption_key_still_bound_is_refused(repo):
    repo.add_setting("dev", "vault_key", "reencrypted: retired")
    repo.commit("vault_key retired")
    repo.remove("dev", "vault_key")
    repo.remove("dev", "vault")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.vault_key: removes or renames secret "
        "'vault_key' while worker vault.ENCRYPTION_KEY of stack 'dev' binds it at HEAD, got no "
        "secrets.vault_key here (move every binding off it and deploy that first, then remove it)"
    ]


def test_switching_an_encryption_keys_source_is_refused(repo):
    repo.sub("dev", r"(    vault_key:\n      kind: encryption_key.*\n)      source: gen.*\n", r"\1")
    repo.add_value("dev", "vault_key_v1", "v1:a2V5bm9uY2U=:a2V5LWNpcGhlcnRleHQ=")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.vault_key.source: switches the source of "
        "encryption_key 'vault_key' without a retire step, got source config here and generate "
        "at HEAD and no reencrypted: retired at HEAD (re-encrypt or delete everything it "
        "encrypted, then set secrets.vault_key.reencrypted: retired in a change of its own and "
        "deploy it before this one)",
    )


# -- two stacks of one account managing the same names ----------------------------------------


def test_two_stacks_of_one_account_with_the_same_name_prefix_are_refused(repo):
    repo.sub("staging", r"namePrefix: stg_", "namePrefix: dev_")
    repo.commit("staging takes dev's prefix")  # no --base needed: the files as they are
    # shared: 6 secret names and 8 script names
    refused(
        repo,
        check(repo),
        "stacks/Pulumi.staging.yaml: secrets-store:namePrefix: manages the same Cloudflare names "
        "as stack 'dev' in account 'REPLACE_ME_ACCOUNT_ID', got 14 shared, first secret "
        "dev_api_key_v<N> (give each stack of one account its own namePrefix)",
    )


def test_a_secret_name_colliding_through_another_prefix_is_refused(repo):
    # staging without a prefix declares dev_jwt_key: Cloudflare's dev_jwt_key_v1 is dev's too
    # (and, like prod, has no prefix: prod's other placeholder account earns a warning)
    repo.sub("staging", r"namePrefix: stg_", 'namePrefix: ""')
    repo.sub(
        "staging",
        r"^  secrets-store:workers:\n",
        "    dev_jwt_key:\n      kind: signing_key\n      source: generate\n"
        "  secrets-store:workers:\n",
    )
    refused(
        repo,
        check(repo),
        "stacks/Pulumi.staging.yaml: secrets-store:secrets.dev_jwt_key: manages the same "
        "Cloudflare names as stack 'dev' in account 'REPLACE_ME_ACCOUNT_ID', got 1 shared, first "
        "secret dev_jwt_key_v<N> (give each stack of one account its own namePrefix)",
        notices=(
            "Warning: stacks/Pulumi.staging.yaml: secrets-store:accountId: is the placeholder "
            "'REPLACE_ME_ACCOUNT_ID' and stack 'prod' has 'REPLACE_ME_PROD_ACCOUNT_ID': if both "
            "stand for one account, the two manage the same Cloudflare names (namePrefix), got "
            "14 shared, first secret api_key_v<N> (write one account as one placeholder, or set "
            "the real account ids, so the shared-account checks can see it)",
        ),
    )


def test_the_same_name_prefix_in_different_accounts_passes(repo):
    repo.sub("staging", r"accountId: REPLACE_ME_ACCOUNT_ID", "accountId: " + "e" * 32)
    repo.sub("staging", r"namePrefix: stg_", "namePrefix: dev_")
    repo.commit("staging in its own account")
    result = check(repo, "--base", "HEAD")
    passes(result)
    assert result.stderr == ""


def test_one_account_written_as_two_placeholders_is_a_warning(repo):
    # GIVEN dev's account as REPLACE_ME_ACCOUNT_ID; WHEN staging writes it as another
    # placeholder and takes dev's prefix: if they are one account, every name collides
    repo.sub("staging", r"accountId: REPLACE_ME_ACCOUNT_ID", "accountId: REPLACE_ME_OTHER")
    repo.sub("staging", r"namePrefix: stg_", "namePrefix: dev_")
    result = check(repo)
    # THEN allowed (they may be two accounts), with one warning naming both placeholders
    passes(result)
    assert "check: 3 stacks OK." in result.stdout
    assert result.stderr.splitlines() == [
        "Warning: stacks/Pulumi.staging.yaml: secrets-store:accountId: is the placeholder "
        "'REPLACE_ME_OTHER' and stack 'dev' has 'REPLACE_ME_ACCOUNT_ID': if both stand for one "
        "account, the two manage the same Cloudflare names (namePrefix), got 14 shared, first "
        "secret dev_api_key_v<N> (write one account as one placeholder, or set the real account "
        "ids, so the shared-account checks can see it)"
    ]


def test_distinct_placeholders_that_would_not_collide_earn_no_warning(repo):
    # the shipped examples: prod's own placeholder account, plain names, no shared name
    result = check(repo, "--base", "HEAD")
    passes(result)
    assert result.stderr == ""


# -- more than 100 live secrets in one account --------------------------------------------------


def test_stacks_of_one_account_over_100_live_secrets_together_are_refused(repo):
    # dev keeps 7 live secrets (api_key mid-rotation counts 2), staging 6
    repo.add_generated_secrets("dev", 50)  # 57
    repo.add_generated_secrets("staging", 45)  # 51: each stack alone is under the limit
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets: the stacks of account "
        "'REPLACE_ME_ACCOUNT_ID' need 108 Cloudflare secrets together (every live version "
        "counts), over the per-account limit of 100, got dev 57 + staging 51 (finish rotations "
        "or remove secrets first: the limit is per account, not per stack)",
    )


def test_exactly_100_live_secrets_in_one_account_pass(repo):
    repo.add_generated_secrets("dev", 43)  # 50
    repo.add_generated_secrets("staging", 44)  # 50
    passes(check(repo, "--base", "HEAD"))


# -- shapes the program refuses never crash the new rules -----------------------------------------


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [
        (r"^  secrets-store:secrets:\n", "  secrets-store:secrets: [1, 2]\n  old_secrets:\n"),
        (r"^  secrets-store:workers:\n", "  secrets-store:workers: nope\n  old_workers:\n"),
        (r"BILLING_KEY: api_key", "BILLING_KEY: [api_key]"),
        (r"BILLING_KEY: api_key", "BILLING_KEY: {secret: 7}"),
        (r"namePrefix: dev_ ", "namePrefix: {a: 1} "),
        (r"accountId: REPLACE_ME_ACCOUNT_ID", "accountId: [x]"),
        (r"      source: generate  ", "      source: [generate]  "),
        (r"secure: v1:bm9uY2UwMDAwMDAx:\S+", "secure: {nested: 1}"),
        (r"secure: v1:bm9uY2UwMDAwMDAx:\S+", "secure: 42"),
        (r"(    vault_key:\n)", r"\1      reencrypted: {a: 1}\n"),
        (r"(    vault_key:\n)", r"\1      reencrypted: true\n"),
        (r"^    hmac_key:", '    "hmac key\u00e9":'),
    ],
)
def test_odd_shapes_are_refused_or_pass_but_never_crash(repo, pattern, replacement):
    repo.set_position("dev", "vault_key", "current: 1\nnext: 2\nstage: swapped")
    repo.commit("vault_key swapped")
    repo.set_position("dev", "vault_key", "current: 2")
    repo.sub("dev", pattern, replacement)
    result = check(repo, "--base", "HEAD")
    assert result.exit_code in (0, 2), result.output
    assert all(c not in result.output for c in repo.ciphertexts())
    assert all(
        line.startswith(("stacks/Pulumi.", "Warning: stacks/Pulumi."))
        for line in result.stderr.splitlines()
    )


def test_secure_values_of_a_text_beyond_the_reading_limits_is_empty_and_never_parsed(
    monkeypatch: pytest.MonkeyPatch,
):
    from secrets_store import yamlfile
    from secretsctl.offline import stackfile
    from secretsctl.workflow.check import secure_values

    def never(*_: object) -> None:
        raise AssertionError("a text beyond the limits reached the YAML reader")

    monkeypatch.setattr(yamlfile, "_parse", never)
    dense = "config:\n  k: [" + "1," * (stackfile.MAX_INDICATORS + 1) + "]\n"
    assert secure_values(dense) == {}
    assert secure_values(b"config: {}\n# " + b"x" * stackfile.MAX_FILE_BYTES) == {}


def test_secure_values_reads_each_secure_key_and_a_refused_text_is_never_cached(
    monkeypatch: pytest.MonkeyPatch,
):
    from secrets_store import yamlfile
    from secretsctl.offline import stackfile
    from secretsctl.workflow.check import secure_values

    text = f"config:\n  secrets-store:api_key_v1:\n    secure: {CANARY_CIPHERTEXT}\n  a: b\n"
    assert secure_values(text) == {"secrets-store:api_key_v1": CANARY_CIPHERTEXT}
    # A refusal is raised each time, never cached.
    with pytest.raises(stackfile.StackFileError, match="not valid YAML"):
        stackfile.read_stack_file(stackfile.Path("x"), "config: [")
    assert "config: [" not in yamlfile._parsed
    # The parsed text is cached: a second read does not parse again, and its copy is its own.
    monkeypatch.setattr(yamlfile, "_parse", lambda *_: (_ for _ in ()).throw(AssertionError))
    again = stackfile.read_stack_file(stackfile.Path("x"), text).data
    again["config"].clear()
    assert secure_values(text) == {"secrets-store:api_key_v1": CANARY_CIPHERTEXT}


# -- a kind changed under a binding or a live version -------------------------------------------

KIND_FIX = (
    "(a kind is fixed for a secret's life: declare a new secret with kind {now} under a new "
    "name, move every binding to it, then {retire}remove {name})"
)


def test_a_bound_encryption_key_turned_opaque_is_refused_so_its_finish_cannot_skip_reencryption(
    repo,
):
    # GIVEN vault_key mid-rotation (swapped) at the base
    vault_swapped_at_base(repo)
    # WHEN step one of the bypass: the kind becomes opaque (step two would finish it with
    # no re-encryption record, the rule being an encryption_key's only)
    repo.sub("dev", r"kind: encryption_key", "kind: opaque")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.vault_key.kind: changes the kind of secret "
        "'vault_key' while worker vault.ENCRYPTION_KEY of stack 'dev' binds it here, got opaque "
        "here and encryption_key at HEAD "
        + KIND_FIX.format(
            now="opaque", retire="mark it reencrypted: retired and ", name="vault_key"
        ),
    )


def test_a_kind_change_and_the_finish_in_one_change_are_both_refused(repo):
    vault_swapped_at_base(repo)
    repo.sub("dev", r"kind: encryption_key", "kind: opaque")
    repo.set_position("dev", "vault_key", "current: 2")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    keys = [line.split(": ")[1] for line in result.stderr.splitlines()]
    assert keys == [
        "secrets-store:secrets.vault_key.reencrypted",
        "secrets-store:secrets.vault_key.kind",
    ]


def test_a_kind_change_of_an_unbound_secret_with_live_versions_is_refused(repo):
    # GIVEN no worker binds vault_key any more at the base (its v1 still exists)
    repo.remove("dev", "vault")
    repo.commit("vault worker gone")
    # WHEN its kind changes to signing_key
    repo.sub("dev", r"kind: encryption_key", "kind: signing_key")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.vault_key.kind: changes the kind of secret "
        "'vault_key' while vault_key_v1 live at HEAD, got signing_key here and encryption_key at "
        "HEAD "
        + KIND_FIX.format(
            now="signing_key", retire="mark it reencrypted: retired and ", name="vault_key"
        ),
    )


def test_a_kind_change_of_a_bound_secret_of_another_kind_is_refused_while_rotating(repo):
    # api_key is mid-rotation in dev: both v1 and v2 are bound
    repo.sub("dev", r"      kind: api_key\n", "      kind: opaque\n")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.dev.yaml: secrets-store:secrets.api_key.kind: changes the kind of secret "
        "'api_key' while worker api.PRIMARY_KEY of stack 'dev' binds it here, got opaque here and "
        "api_key at HEAD " + KIND_FIX.format(now="opaque", retire="", name="api_key"),
    )


def test_a_kind_change_with_no_binding_and_no_live_version_passes_with_a_key_kind_warning(repo):
    # GIVEN a secret the base declares but never deployed (its position is refused: no
    # version of it exists) and no worker binds
    repo.sub(
        "dev",
        r"^  secrets-store:workers:\n",
        "    spare_key:\n      kind: encryption_key\n      source: generate\n      current: one\n"
        "  secrets-store:workers:\n",
    )
    repo.commit("spare_key, not deployable yet")
    # WHEN it is fixed and made a signing_key
    repo.sub("dev", r"(    spare_key:\n)      kind: encryption_key", r"\1      kind: signing_key")
    repo.sub("dev", r"current: one", "current: 1")
    result = check(repo, "--base", "HEAD")
    # THEN allowed, with one warning: key material changes meaning
    passes(result)
    assert result.stderr.splitlines() == [
        "Warning: stacks/Pulumi.dev.yaml: secrets-store:secrets.spare_key.kind: changes the kind "
        "of secret 'spare_key' to or from a key kind, got signing_key here and encryption_key at "
        "HEAD (allowed: no worker binds it and it has no live version at HEAD; make sure nothing "
        "outside still uses it as encryption_key)"
    ]


def test_the_safe_way_to_change_a_kind_is_a_new_secret_under_a_new_name(repo):
    # 1. a new secret with the new kind, and the binding moved to it
    repo.sub(
        "dev",
        r"^  secrets-store:workers:\n",
        "    vault_blob:\n      kind: opaque\n      source: generate\n  secrets-store:workers:\n",
    )
    repo.sub("dev", r"ENCRYPTION_KEY: vault_key", "ENCRYPTION_KEY: vault_blob")
    result = check(repo, "--base", "HEAD")
    passes(result)
    assert result.stderr == ""
    repo.commit("vault reads vault_blob")
    # 2. the old encryption_key's retire step, then 3. its removal
    repo.add_setting("dev", "vault_key", "reencrypted: retired")
    passes(check(repo, "--base", "HEAD"))
    repo.commit("vault_key retired")
    repo.remove("dev", "vault_key")
    passes(check(repo, "--base", "HEAD"))


# -- scopes other than workers -------------------------------------------------------------------
# The spec refuses them (README "Scopes"), so a change can no longer drop workers from the
# scopes of a bound secret either: check's rule for that (check.py) has nothing left to catch.


@pytest.mark.parametrize("scopes", ["[access]", "[workers, access, ai_gateway]", "[dex]"])
def test_a_scope_that_reads_a_secret_by_name_is_refused_with_the_reason(repo, scopes):
    repo.sub("dev", r"scopes: \[workers\]", f"scopes: {scopes}")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert any(
        line.startswith("stacks/Pulumi.dev.yaml: secrets-store:secrets.api_key.scopes: ")
        and "refers to a secret by one name, which every rotation changes" in line
        for line in result.stderr.splitlines()
    ), result.stderr


# -- a stack file deleted or renamed while its stack has resources ------------------------------

RETIRE_FIX = (
    "(retire it first: remove its workers, then its secrets, in changes this check passes, and "
    "deploy them; delete the file once the base declares neither, then run `pulumi stack rm "
    "{stack}`)"
)


def test_deleting_the_prod_stack_file_is_refused(repo):
    repo.path("prod").unlink()
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.prod.yaml: secrets-store:secrets: deletes the file of stack 'prod' while it "
        "declares 6 secret(s) and 8 worker(s) at HEAD, got no stacks/Pulumi.prod.yaml here "
        + RETIRE_FIX.format(stack="prod"),
    )


def test_git_mv_of_a_stack_file_is_refused_as_a_rename(repo):
    # GIVEN deployed staging; WHEN `git mv` renames its file: a new stack `stage` would create
    # every name staging owns, a new generated vault key among them
    git(repo.root, "mv", "stacks/Pulumi.staging.yaml", "stacks/Pulumi.stage.yaml")
    refused(
        repo,
        check(repo, "--base", "HEAD"),
        "stacks/Pulumi.prod.yaml: secrets-store:promotion.after: names a stack with no file, got "
        "'staging' (create stacks/Pulumi.staging.yaml or fix the name)",
        "stacks/Pulumi.staging.yaml: secrets-store:secrets: deletes the file of stack 'staging' "
        "while it declares 6 secret(s) and 8 worker(s) at HEAD, got no stacks/Pulumi.staging.yaml "
        "here and a new stacks/Pulumi.stage.yaml: looks like a rename of staging -> stage (Pulumi "
        "stacks are renamed with `pulumi stack rename`, and the stack file follows: the new file "
        "alone deploys a new stack stage that creates every name staging owns; a rename moves "
        "deployed state, which this gate cannot see, so keep the name here, or retire the old "
        "stack first)",
    )


def test_a_rename_committed_on_the_branch_is_refused_too(repo):
    # the base is main; the PR branch has committed the move (and fixed prod's promotion)
    git(repo.root, "checkout", "-q", "-b", "pr")
    git(repo.root, "mv", "stacks/Pulumi.staging.yaml", "stacks/Pulumi.stage.yaml")
    repo.sub("prod", r"after: staging", "after: stage")
    repo.commit("rename staging")
    result = check(repo, "--base", "main")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith(
        "stacks/Pulumi.staging.yaml: secrets-store:secrets: deletes the file of stack 'staging'"
    )
    assert "looks like a rename of staging -> stage" in result.stderr


def test_a_stack_retired_in_changes_the_gate_passed_may_then_lose_its_file(repo):
    # 1. its workers go, and its encryption_key takes its retire step
    repo.clear("prod", "workers")
    repo.sub("prod", r"^  secrets-store:legacy_api_key:\n    secure: \S+\n", "")
    repo.add_setting("prod", "vault_key", "reencrypted: retired")
    passes(check(repo, "--base", "HEAD"))
    repo.commit("prod: workers gone, vault_key retired")
    # 2. then its secrets (and their values)
    repo.clear("prod", "secrets")
    repo.sub("prod", r"^  secrets-store:\w+_v1:\n    secure: \S+\n", "", count=3)
    passes(check(repo, "--base", "HEAD"))
    repo.commit("prod: secrets gone")
    # 3. the base declares nothing: the file may go, with a note for the stack itself
    repo.path("prod").unlink()
    result = check(repo, "--base", "HEAD")
    passes(result)
    assert "check: 2 stacks OK against HEAD." in result.stdout
    assert result.stderr.splitlines() == [
        "Note: stacks/Pulumi.prod.yaml: removes stack 'prod', which declares nothing at HEAD "
        "(retired): after the merge, run `pulumi stack rm prod`"
    ]


def test_emptying_and_deleting_a_stack_in_one_change_is_refused(repo):
    repo.clear("prod", "workers")
    repo.clear("prod", "secrets")
    repo.path("prod").unlink()
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert "deletes the file of stack 'prod' while it declares 6 secret(s)" in result.stderr


def test_a_stack_file_that_does_not_load_here_is_not_taken_as_deleted(repo):
    repo.write("prod", "config: [")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2
    assert "deletes the file" not in result.stderr
    assert result.stderr.splitlines() == [
        f"{repo.path('prod')}: not valid YAML, got ParserError at line 1, column 10 (fix the "
        "YAML syntax)"
    ]


# -- a secrets-provider change ------------------------------------------------------------------

PROVIDER_NOTE = (
    "Note: stacks/Pulumi.dev.yaml: a secrets-provider change (`pulumi stack "
    "change-secrets-provider`): every `secure:` value re-encrypted, the same keys, nothing else "
    "changed, so no value counts as changed (check never decrypts: review that this is all the "
    "PR does)"
)


def salted_at_base(repo: Repo) -> None:
    repo.sub("dev", r"^config:\n", "encryptionsalt: v1:b2xkc2FsdA==:b2xk\nconfig:\n")
    repo.commit("dev on a passphrase provider")


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [
        # a new passphrase: a new salt
        (r"^encryptionsalt: .*\n", "encryptionsalt: v1:bmV3c2FsdA==:bmV3\n"),
        # passphrase -> a cloud KMS: the salt goes, a provider and its wrapped key come
        (
            r"^encryptionsalt: .*\n",
            "secretsprovider: awskms://alias/secrets-store?region=us-east-1\n"
            "encryptedkey: AQICAHhQ0ZXhhbXBsZS1lbmNyeXB0ZWQta2V5\n",
        ),
    ],
)
def test_a_secrets_provider_change_is_accepted_with_a_note(repo, pattern, replacement):
    # GIVEN dev's file at the base; WHEN `pulumi stack change-secrets-provider` rewrites it:
    # the provider keys and every ciphertext, live values of api_key and db_config included
    salted_at_base(repo)
    repo.sub("dev", pattern, replacement)
    repo.reencrypt("dev")
    result = check(repo, "--base", "HEAD")
    # THEN accepted, with the one-line note
    passes(result)
    assert "check: 3 stacks OK against HEAD." in result.stdout
    assert result.stderr.splitlines() == [PROVIDER_NOTE]
    assert not [c for c in repo.ciphertexts() if c in result.output]


def live_value_lines(result) -> list[str]:
    return [line.split(": ")[1] for line in result.stderr.splitlines()]


def test_new_ciphertexts_without_a_provider_change_are_refused(repo):
    salted_at_base(repo)
    repo.reencrypt("dev")
    refused_keys = live_value_lines(check(repo, "--base", "HEAD"))
    assert refused_keys == [
        "secrets-store:api_key_v1",
        "secrets-store:api_key_v2",
        "secrets-store:db_config_v1",
        "secrets-store:login_clients_v1",
    ]


@pytest.mark.parametrize(
    "edit",
    [
        "adds a value key",
        "removes a value key",
        "keeps one ciphertext",
        "changes a setting",
    ],
)
def test_a_secrets_provider_change_that_changes_anything_else_is_not_exempt(repo, edit):
    salted_at_base(repo)
    repo.sub("dev", r"^encryptionsalt: .*\n", "encryptionsalt: v1:bmV3c2FsdA==:bmV3\n")
    kept = re.search(r"secure: (v1:bm9uY2UwMDAwMDAx:\S+)", repo.read("dev"))
    repo.reencrypt("dev")
    if edit == "adds a value key":
        repo.add_value("dev", "api_key_v3")
    elif edit == "removes a value key":
        repo.sub("dev", r"^  cloudflare:apiToken:\n    secure: \S+\n", "")
    elif edit == "keeps one ciphertext":
        assert kept
        repo.sub("dev", r"(  secrets-store:api_key_v1:\n    secure: )\S+", rf"\g<1>{kept[1]}")
    else:
        repo.sub("dev", r"UPSTREAM_URL: \S+", "UPSTREAM_URL: https://evil.example.com")
    result = check(repo, "--base", "HEAD")
    assert result.exit_code == 2, result.output
    assert "secrets-provider change" not in result.stderr
    assert "secrets-store:api_key_v2" in live_value_lines(result)
    assert not [c for c in repo.ciphertexts() if c in result.output]


# -- the topology file is part of what the base meant ---------------------------------------


def new_form_repo(root) -> Path:
    """A project in the new form: Pulumi.yaml, the example topology, the example stacks."""
    root.mkdir(parents=True)
    (root / "Pulumi.yaml").write_text(
        "name: secrets-store\nruntime: python\nstackConfigDir: stacks\n"
    )
    shutil.copy(PROJECT_ROOT / "secrets-store.yaml", root / "secrets-store.yaml")
    shutil.copytree(PROJECT_ROOT / "examples" / "stacks", root / "stacks")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    return root


def test_a_kind_changed_in_the_topology_file_is_compared_with_the_base_topology(tmp_path):
    # GIVEN a new-form project whose topology binds vault_key (an encryption_key) to vault
    root = new_form_repo(tmp_path / "project")
    passes(secretsctl("check", "--cwd", str(root), "--base", "HEAD"))
    # WHEN a change turns it into an opaque secret in secrets-store.yaml alone
    topology = root / "secrets-store.yaml"
    text = topology.read_text()
    assert text.count("kind: encryption_key") == 1
    topology.write_text(text.replace("kind: encryption_key", "kind: opaque"))
    result = secretsctl("check", "--cwd", str(root), "--base", "HEAD")
    # THEN the gate sees the base's files with the base's topology: a kind change, refused
    assert result.exit_code == 2, result.output
    assert "secrets-store:secrets.vault_key.kind" in result.stderr
    assert "got opaque here and encryption_key at HEAD" in result.stderr
