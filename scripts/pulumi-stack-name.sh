#!/usr/bin/env bash
# The Pulumi stack name of STACK for the backend the environment configures, printed on
# stdout; one ::error:: line and exit 1 when none is configured, or half of one.
#
#   Pulumi Cloud:         PULUMI_ACCESS_TOKEN, and PULUMI_ORG    -> <PULUMI_ORG>/<STACK>
#   self-managed backend: PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE -> <STACK>
#
# Used by both workflows (pull-request.yml, pulumi-up.yml): one backend story, one file.
set -euo pipefail
stack=${1:?usage: scripts/pulumi-stack-name.sh STACK}
if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
  if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ]; then
    echo "::error::PULUMI_BACKEND_URL is set: set the PULUMI_CONFIG_PASSPHRASE secret too (it decrypts the stack's secure: values)"
    exit 1
  fi
  echo "$stack"
elif [ -n "${PULUMI_ACCESS_TOKEN:-}" ]; then
  if [ -z "${PULUMI_ORG:-}" ]; then
    echo "::error::Pulumi Cloud: set the PULUMI_ORG env of this workflow to your organization"
    exit 1
  fi
  echo "$PULUMI_ORG/$stack"
else
  echo "::error::no Pulumi backend: set the PULUMI_ACCESS_TOKEN secret (Pulumi Cloud), or the PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE secrets (self-managed)"
  exit 1
fi
