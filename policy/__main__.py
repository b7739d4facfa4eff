"""Entry point the Pulumi CLI runs: `pulumi up --policy-pack policy` (or `pulumi policy publish`).

Constructing the PolicyPack starts the analyzer server and never returns, so it lives only here;
the policies themselves are in the apertus_policies package, which the tests import.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from apertus_policies import NAME, PACK_POLICIES

PolicyPack(
    name=NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=PACK_POLICIES,
)
