"""The policy pack: `pulumi preview --policy-pack policies` loads this file."""

from pulumi_policy import PolicyPack
from secrets_store_policies import POLICIES

PolicyPack(name="secrets-store", policies=POLICIES)
