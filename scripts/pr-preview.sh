#!/usr/bin/env bash
# `pulumi preview --diff` of each STACK, as markdown for the pull request's one comment
# (pull-request.yml appends it to the rotation diff, under the same marker).
#
#   scripts/pr-preview.sh STACK...   (run in the Pulumi project's folder)
#
# The backend is the one scripts/pulumi-stack-name.sh names. The policy pack in
# policies/ runs with every preview (POLICY_PACK= to run none). Secret values stay hidden:
# the engine prints every secret as [secret], and this never passes --show-secrets. Each
# preview's output (in a four-backtick fence) is cut to its last PREVIEW_MAX_BYTES (default 15000: a comment holds
# 65,536 characters). Exit 1 when any preview failed (each one still runs and is shown).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
policy=${POLICY_PACK-policies}
max=${PREVIEW_MAX_BYTES:-15000}
status=0
echo
echo "## pulumi preview --diff"
if [ "$#" -eq 0 ]; then
  echo
  echo "No stack changed: nothing to preview."
fi
for stack in "$@"; do
  echo
  # A stack name comes from a file name in the pull request: nothing but a stack name's
  # characters reaches the comment or the command line.
  if ! [[ "$stack" =~ ^[A-Za-z0-9_.-]{1,100}$ ]]; then
    echo "**(a stack file name)**: not previewed: not a stack name (letters, digits, _ . - only)"
    status=1
    continue
  fi
  if ! name=$("$here/pulumi-stack-name.sh" "$stack"); then
    echo "$name" >&2 # the ::error:: annotation, in the job's log
    echo "**$stack**: not previewed: ${name#::error::}"
    status=1
    continue
  fi
  args=(preview --diff --stack "$name" --non-interactive --color never)
  if [ -n "$policy" ] && [ -d "$policy" ]; then
    args+=(--policy-pack "$policy")
  fi
  output=$(pulumi "${args[@]}" 2>&1)
  code=$?
  if [ "$code" -eq 0 ]; then
    verdict="passed"
  else
    verdict="**failed** (exit $code)"
    status=1
  fi
  bytes=${#output}
  echo "<details><summary><code>pulumi preview --diff</code> of <b>$stack</b>: $verdict</summary>"
  echo
  echo '````'
  if [ "$bytes" -gt "$max" ]; then
    echo "[... the first $((bytes - max)) characters cut: the whole output is in the job's log]"
    printf '%s\n' "${output: -$max}"
  else
    printf '%s\n' "$output"
  fi
  echo '````'
  echo "</details>"
  # The whole output in the job's log.
  printf '%s\n' "$output" >&2
done
exit "$status"
