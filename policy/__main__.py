"""Entry point the Pulumi CLI runs: `pulumi up --policy-pack policy` (or `pulumi policy publish`).

Constructing the PolicyPack starts the analyzer server and never returns, so it lives only here;
the policies themselves are in apertus_policies.py, which the tests import.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from apertus_policies import POLICIES
from monitoring_policy import serving_host_monitored  # ops (issue 17): every serving host is monitored

PolicyPack(
    name="apertus-azure-security",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[*POLICIES, serving_host_monitored],
)
