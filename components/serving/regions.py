"""Azure public-cloud regions: the names Azure resources take, their display names, and a normaliser.

``azure-native:location`` accepts the display name (``West Europe``) as well as the name
(``westeurope``), but every name this project derives from the region (FQDNs such as
``<label>.<region>.cloudapp.azure.com``, rule names, zone choices) needs Azure's name. So the region
is normalised once and checked against this table, with a "did you mean" for a near miss.

Source: the "Programmatic name" and "Region" columns of Microsoft Learn's "Azure regions list"
(learn.microsoft.com/azure/reliability/regions-list, read 2026-11), which match the ``name`` and
``displayName`` fields of ``az account list-locations`` (regionType "Physical"; logical regions like
``europe`` and the EUAP canary regions are not places to deploy to). Restricted-access regions are
included: they are valid names for a subscription that was granted access.
"""

from __future__ import annotations

import difflib
import re

from .errors import ConfigError

REGIONS: dict[str, str] = {
    # Americas
    "brazilsouth": "Brazil South",
    "brazilsoutheast": "Brazil Southeast",
    "canadacentral": "Canada Central",
    "canadaeast": "Canada East",
    "centralus": "Central US",
    "chilecentral": "Chile Central",
    "eastus": "East US",
    "eastus2": "East US 2",
    "mexicocentral": "Mexico Central",
    "northcentralus": "North Central US",
    "southcentralus": "South Central US",
    "westcentralus": "West Central US",
    "westus": "West US",
    "westus2": "West US 2",
    "westus3": "West US 3",
    # Europe
    "austriaeast": "Austria East",
    "belgiumcentral": "Belgium Central",
    "francecentral": "France Central",
    "francesouth": "France South",
    "germanynorth": "Germany North",
    "germanywestcentral": "Germany West Central",
    "italynorth": "Italy North",
    "northeurope": "North Europe",
    "norwayeast": "Norway East",
    "norwaywest": "Norway West",
    "polandcentral": "Poland Central",
    "spaincentral": "Spain Central",
    "swedencentral": "Sweden Central",
    "swedensouth": "Sweden South",
    "switzerlandnorth": "Switzerland North",
    "switzerlandwest": "Switzerland West",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "westeurope": "West Europe",
    # Middle East and Africa
    "israelcentral": "Israel Central",
    "qatarcentral": "Qatar Central",
    "southafricanorth": "South Africa North",
    "southafricawest": "South Africa West",
    "uaecentral": "UAE Central",
    "uaenorth": "UAE North",
    # Asia Pacific
    "australiacentral": "Australia Central",
    "australiacentral2": "Australia Central 2",
    "australiaeast": "Australia East",
    "australiasoutheast": "Australia Southeast",
    "centralindia": "Central India",
    "eastasia": "East Asia",
    "indonesiacentral": "Indonesia Central",
    "japaneast": "Japan East",
    "japanwest": "Japan West",
    "jioindiacentral": "Jio India Central",
    "jioindiawest": "Jio India West",
    "koreacentral": "Korea Central",
    "koreasouth": "Korea South",
    "malaysiawest": "Malaysia West",
    "newzealandnorth": "New Zealand North",
    "southeastasia": "Southeast Asia",
    "southindia": "South India",
    "westindia": "West India",
}

LOCATION_KEY = "azure-native:location"


def _squeezed(text: str) -> str:
    """Lowercase letters and digits only: 'West Europe', 'WestEurope', 'west-europe' -> 'westeurope'."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def normalize_region(value: str, key: str = LOCATION_KEY) -> str:
    """Azure's name for a region given by name or display name, in any case and spacing.

    A value that is not a region is a ConfigError with the nearest region names. Separators other
    than spaces (``sweden-central``) are not how Azure spells any region, so they count as a miss.
    """
    text = value.strip() if isinstance(value, str) else ""
    candidate = re.sub(r"\s+", "", text.lower())
    if candidate in REGIONS:
        return candidate
    squeezed = _squeezed(text)
    # a region cut short ('westeu', 'swedenc') is the region it begins, before any near spelling
    begun = sorted(region for region in REGIONS if len(squeezed) >= 4 and region.startswith(squeezed))
    close = begun[:3] or difflib.get_close_matches(squeezed, REGIONS, n=3, cutoff=0.75)
    fix = (f"did you mean {' or '.join(repr(c) for c in close)}?" if close
           else "use an Azure region name like swedencentral or westeurope "
                "(az account list-locations -o table lists them)")
    raise ConfigError(key, value, "is not an Azure public-cloud region", fix)
