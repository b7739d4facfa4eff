"""The rules the program and the policy pack both apply, each one function used by both.

Standard library only and no relative import: the policy pack (policy/apertus_policies) loads
this file by path when the components package (and azure-native) is not installed in its
virtualenv, so the pack and ``pulumi up`` can never disagree about an image tag or a source range.
"""

from __future__ import annotations

import collections
import functools
import ipaddress
import itertools
import re
import unicodedata
from collections.abc import Iterable

# ---------------------------------------------------------------- ports

VLLM_PORT = 8000  # vLLM's --port on every host (components/serving/launch.py); never reachable from outside
# What the gateway (Caddy) listens on from outside: HTTPS, and 80 for ACME HTTP-01 and its redirect
GATEWAY_PORTS = (443, 80)
SSH_PORT = 22  # judged by its own rule (source_range_problems with BROADEST_PREFIX)


# ---------------------------------------------------------------- image pinning

# what pins: a digest of a registered algorithm, as registries resolve it (OCI image spec,
# descriptor.md "Digests": sha256 [a-f0-9]{64}, sha512 [a-f0-9]{128}, lowercase)
DIGEST_HEX_DIGITS = {"sha256": 64, "sha512": 128}
RESOLVABLE_DIGEST = re.compile(r"@(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
# tag words that name a moving target, not a version ('nightly-cu128' and 'nightly-2026' move
# like 'nightly'); Docker's own default tag is 'latest'
FLOATING_TAG_WORDS = frozenset({"latest", "nightly", "stable", "edge", "main", "master", "dev", "rolling"})
# Which tags pin, by their shape alone (a registry does not say which of its tags it moves):
# - a tag that starts with a full version of three or more numbers, the image's own release
#   ('v0.33.0', '2.10.2', '3.3.9-3.6.1-ubuntu22.04', '12.8.0-base-ubuntu24.04'). A version after
#   other letters ('py3.12.4-slim', 'cuda12.8.0', 'vllm-0.33.0') is not taken: it is usually the
#   version of something inside (Python's, CUDA's), and the image is rebuilt under it.
# - a calendar date ('20261128', '2026-11-28', 'noble-20250415') or a labelled build or commit
#   ('build-57', 'sha-4f2a9c1') anywhere in it: one build.
# - nothing else: a major tag ('2', 'v0') or a two-number one ('2.10', '3.10', '24.11-py3',
#   '2026.11') moves for most images. Docker official images put '2.6.4', '2.6', '2' and 'latest'
#   on one build and move the short ones on (docker-library/official-images library/caddy at
#   03199a36: "SharedTags: 2.6.4, 2.6, 2, latest"; its '2.7' was 2.7.0-beta.2 before 2.7.0
#   existed), and year.month moves too ('14.04' beside 'trusty-20160317' on one build, moved to
#   the next dated one: library/ubuntu at 020c4230). Some projects do name one release with two
#   numbers (registry.k8s.io/pause:3.10, NGC's monthly 24.11-py3), but the tag's shape is the same
#   as caddy's moving '2.10', so the rule cannot tell them apart; those are pinned by digest, which
#   may follow the tag ('registry.k8s.io/pause:3.10@sha256:...').
# A digest always pins; even a full version tag can be re-pushed (official images rebuild on
# base-image updates); only a digest is immutable.
OWN_FULL_VERSION = re.compile(r"v?[0-9]+(?:\.[0-9]+){2,}(?![0-9])")  # at the tag's start
FULL_VERSION = re.compile(r"(?<![0-9.])v?[0-9]+\.[0-9]+\.[0-9]+")
CALENDAR_DATE = re.compile(r"(?<![0-9])(?:19|20)[0-9]{2}([-._]?)(?:0[1-9]|1[0-2])\1"
                           r"(?:0[1-9]|[12][0-9]|3[01])(?![0-9])")
BUILD_OR_COMMIT = re.compile(r"(?:^|[-._])(?:(?:build|rev)[-._]?[0-9]+|(?:sha-|git-|g)?"
                             r"(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40})(?=$|[-._])")
MAJOR_TAG = re.compile(r"v?[0-9]+(?:[-_].*)?")  # '2', 'v0', '2-alpine'
TWO_NUMBER_TAG = re.compile(r"v?[0-9]+\.[0-9]+(?:[-_].*)?")  # '2.10', '3.10', '24.11-py3'
DIGEST_HELP = "docker buildx imagetools inspect <image> prints it"


def digest_problem(digest: str) -> str | None:
    """What is wrong with the digest after '@' (``digest`` without the '@'), or None when a registry
    resolves it: which algorithm, how many hex digits, which case."""
    algorithm, colon, digits = digest.partition(":")
    if not colon or not algorithm or not digits:
        return (f"has '@{digest[:80]}' where a digest goes, which is not one: a digest is '@sha256:' "
                f"and 64 lower-case hex digits ({DIGEST_HELP})")
    if algorithm not in DIGEST_HEX_DIGITS:
        return (f"has a digest of the algorithm '{algorithm[:20]}', which no registry resolves: give the "
                f"image's sha256 digest, '@sha256:' and 64 lower-case hex digits ({DIGEST_HELP})")
    wanted = DIGEST_HEX_DIGITS[algorithm]
    other = sorted(set(digits) - set("0123456789abcdefABCDEF"))
    if other:
        return (f"has a {algorithm} digest with '{other[0]}' in it, which is not a hex digit (0-9, a-f), so no "
                f"registry resolves it: copy the digest whole, {wanted} hex digits ({DIGEST_HELP})")
    if len(digits) != wanted:
        return (f"has a {algorithm} digest of {len(digits)} hex digits, which no registry resolves: {algorithm} "
                f"takes exactly {wanted} (OCI image spec, descriptor digests); copy the digest whole "
                f"({DIGEST_HELP})")
    if digits != digits.lower():
        return (f"has a {algorithm} digest in upper case, which no registry resolves (OCI image spec: "
                f"lower-case hex): write the same digits in lower case")
    return None


def image_pin_problem(image: str) -> str | None:
    """Why ``image`` is not pinned to one release, or None: a digest pins; a tag pins when none of
    its words (split at - . _) names a moving target and it starts with a full version
    (major.minor.patch), or holds a calendar date or a labelled build or commit (see
    OWN_FULL_VERSION for why a two-number tag does not)."""
    if RESOLVABLE_DIGEST.search(image):
        return None
    if "@" in image:
        return redact_hf_tokens(digest_problem(image.split("@", 1)[1]) or "has a digest no registry resolves")
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (Docker pulls 'latest')"
    tag = last.rsplit(":", 1)[1]
    words = tag.lower()
    shown = redact_hf_tokens(tag)  # a token pasted as a tag is not echoed
    floating = FLOATING_TAG_WORDS.intersection(re.split(r"[-._]", words))
    if floating:
        word = sorted(floating)[0]
        return f"uses the tag '{shown}', which moves" + ("" if word == words else f" ('{word}')")
    if OWN_FULL_VERSION.match(words) or CALENDAR_DATE.search(words) or BUILD_OR_COMMIT.search(words):
        return None
    if MAJOR_TAG.fullmatch(words):
        return (f"uses the tag '{shown}', a major tag, which moves to each new release under it, as Docker "
                "official images move 'caddy:2' from 2.10.1 to 2.10.2")
    if TWO_NUMBER_TAG.fullmatch(words):
        return (f"uses the two-number tag '{shown}', which moves for most images (caddy:2.10 went from 2.10.1 to "
                f"2.10.2); a release kept on two numbers (pause:3.10) pins with its digest after the tag, "
                f"'<image>:{shown}@sha256:<64 hex digits>'")
    version = FULL_VERSION.search(words)
    if version:
        return (f"uses the tag '{shown}', whose full version '{version.group()}' comes after "
                f"'{redact_hf_tokens(tag[:version.start()])}', the version of something in the image (like "
                "Python's in 'py3.12.4'), not of the image, which is rebuilt under it: use a tag that starts "
                "with the image's own version, a date or a build, or a digest")
    if not re.search(r"[0-9]", tag):
        return f"uses the tag '{shown}', which names no version"
    return f"uses the tag '{shown}', which names no full version (major.minor.patch), date or build"


# ---------------------------------------------------------------- source ranges

# The broadest source range allowed where a network is limited by address (SSH, the AKS API
# server's authorized ranges, any port but the gateway's): an IPv4 /8 (issue 8.6); for IPv6 a /48,
# the end-site assignment of RFC 6177 section 2. Several ranges together may not cover more either.
BROADEST_PREFIX = {4: 8, 6: 48}
# NSG sources that stay inside Azure's network: the VNet (with peerings) and the load balancer's
# health probes (learn.microsoft.com/azure/virtual-network/service-tags-overview)
INSIDE_SERVICE_TAGS = frozenset({"virtualnetwork", "azureloadbalancer"})
# never a public source address: private (RFC 1918), shared carrier-grade NAT (RFC 6598), loopback
# and link-local (RFC 1122, RFC 3927), IPv6 unique local and link-local (RFC 4193, RFC 4291)
NON_PUBLIC_RANGES = tuple(ipaddress.ip_network(cidr) for cidr in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7", "fe80::/10", "::1/128"))


# Address ranges reserved for documentation (RFC 5737 section 3; RFC 3849): no client has them,
# so an allow-list naming one lets no one in; examples (and the shipped aks stack) use them
DOCUMENTATION_RANGES = tuple(ipaddress.ip_network(cidr) for cidr in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def documentation_ranges(sources: Iterable[object]) -> list[str]:
    """The sources inside a documentation range (as given): an allow-list entry nobody sends from."""
    found = []
    for source in sources:
        network = as_network(source)
        if network is not None and any(network.version == doc.version and network.subnet_of(doc)
                                       for doc in DOCUMENTATION_RANGES):
            found.append(str(source))
    return found


# IPv6 prefixes whose addresses stand for IPv4 ones, the IPv4 address in their last 32 bits: a
# range there is judged as the IPv4 range it stands for, so '::ffff:0:0/96' is the whole IPv4
# internet, not a narrow /96. The local-use NAT64 prefix is read in the /96 layout (RFC 6052
# section 2.2; a network may choose another), and a range broader than the /96 there is all of IPv4.
IPV4_IN_IPV6 = tuple((ipaddress.ip_network(prefix), why) for prefix, why in (
    ("::ffff:0:0/96", "IPv4-mapped, RFC 4291 section 2.5.5.2"),
    ("::ffff:0:0:0/96", "IPv4-translated, RFC 2765 section 2.1"),
    ("64:ff9b::/96", "the NAT64 well-known prefix, RFC 6052 section 2.1"),
    ("64:ff9b:1::/48", "the NAT64 local-use prefix, RFC 8215"),
    ("::/96", "IPv4-compatible, deprecated by RFC 4291 section 2.5.5.1")))
ALL_IPV4 = ipaddress.ip_network("0.0.0.0/0")
# Addresses no client sends from: 0.0.0.0/8 is "this host on this network", a source only while a
# host configures itself (RFC 1122 section 3.2.1.3, RFC 6890 table 1), :: is IPv6's unspecified
# address (RFC 4291 section 2.5.2). Azure gives 0.0.0.0 meanings of its own (an AKS
# authorizedIPRanges entry 0.0.0.0/32 allows only the cluster's own outbound IPs, "Secure access to
# the API server using authorized IP address ranges"); what an NSG makes of it is not documented.
# A source there is refused as ambiguous.
NOT_A_SOURCE = tuple(ipaddress.ip_network(cidr) for cidr in ("0.0.0.0/8", "::/128"))


def as_network(source: object) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A source as a network, or None for '*', a service tag or anything that is not a range."""
    try:
        return ipaddress.ip_network(str(source).strip(), strict=False)
    except ValueError:
        return None


def range_syntax_problem(source: object) -> str:
    """Why ``source`` (which ``as_network`` could not read) is not an address range, and what would
    be: a prefix length the address does not have ('/33'), an address that is not one, or a
    service tag / '*' / 'Internet', which stands for anyone."""
    text = str(source).strip()
    if text and text != str(source):
        return f"has a space before or after it; write it without spaces, like '{text[:50]}'"
    address, slash, prefix = text.partition("/")
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        if re.fullmatch(r"[A-Za-z*][A-Za-z0-9.*]*", text):
            return ("is not an address range: service tags, 'Internet' and '*' mean anyone (or a whole "
                    "cloud); give CIDRs like 203.0.113.0/24")
        try:  # the family's own reason ("Octet 300 (> 255) not permitted", "Expected 4 octets")
            (ipaddress.IPv6Address if ":" in address else ipaddress.IPv4Address)(address)
            reason = "not an address"
        except ValueError as error:
            reason = redact_hf_tokens(str(error))[:120]
        return f"is not an IP address ({reason}); give CIDRs like 203.0.113.0/24"
    bits = parsed.max_prefixlen
    example = "203.0.113.0/24" if parsed.version == 4 else "2001:db8::/48"
    if slash and not prefix.isdigit():
        return (f"has the prefix '/{redact_hf_tokens(prefix)[:20]}', which is not a number of bits; give a "
                f"length from /0 to /{bits}, like {example}")
    if slash and int(prefix) > bits:
        return (f"has the prefix length /{int(prefix)}, but an IPv{parsed.version} address has {bits} bits; give "
                f"a length from /0 to /{bits}, like {example} (one address: /{bits})")
    return f"is not an address range; give CIDRs like {example}"


def ipv4_meaning(network: ipaddress.IPv4Network | ipaddress.IPv6Network
                 ) -> tuple[ipaddress.IPv4Network, str] | None:
    """The IPv4 range an IPv6 range stands for (IPv4-mapped, translated, NAT64, compatible) and
    why, or None when it stands for none. A range that holds a whole IPv4-embedding prefix stands
    for every IPv4 address."""
    if network.version != 6 or network.subnet_of(ipaddress.ip_network("::/127")) and network.prefixlen > 96:
        return None  # '::' and '::1' are IPv6's own (unspecified, loopback), not IPv4 in disguise
    for prefix, why in IPV4_IN_IPV6:
        if prefix.subnet_of(network):
            return ALL_IPV4, why
        if network.subnet_of(prefix):
            if network.prefixlen < 96:  # inside the local-use /48, broader than one /96
                return ALL_IPV4, why
            first = ipaddress.IPv4Address(int(network.network_address) & 0xFFFFFFFF)
            return ipaddress.ip_network(f"{first}/{network.prefixlen - 96}"), why
    return None


def not_a_source_problem(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    """Why ``network`` cannot be meant as a client's source range (see NOT_A_SOURCE), or None."""
    for other in NOT_A_SOURCE:
        if network.version == other.version and network.subnet_of(other):
            if network.version == 6:
                return "is IPv6's unspecified address (RFC 4291 section 2.5.2), which no client sends from"
            return ("is not an address any client sends from (0.0.0.0/8 is 'this host on this network', "
                    "RFC 1122 section 3.2.1.3) and Azure reads 0.0.0.0 in ways of its own (AKS takes "
                    "0.0.0.0/32 as 'the cluster's outbound IPs only')")
    return None


def is_inside_source(source: object) -> bool:
    """The source is the VNet, Azure's load balancer probe, or a private range (never the internet)."""
    text = str(source).strip()
    if text.lower() in INSIDE_SERVICE_TAGS:
        return True
    network = as_network(text)
    if network is not None and (meaning := ipv4_meaning(network)):
        network = meaning[0]
    return network is not None and any(network.version == other.version and network.subnet_of(other)
                                       for other in NON_PUBLIC_RANGES)


def source_range_problems(sources: Iterable[object], broadest: dict[int, int] | None = None) -> list[str]:
    """Why these sources are too broad, one reason per problem (empty: fine). '*', 'Internet',
    service tags and ranges broader than ``broadest`` fail alone; an IPv6 range that stands for
    IPv4 addresses is judged as those; 0.0.0.0 (any prefix inside 0.0.0.0/8) and '::' fail as
    ambiguous; ranges that are each narrow enough fail together when their union covers more than
    the broadest single range."""
    broadest = broadest or BROADEST_PREFIX
    problems: list[str] = []
    networks = []
    for source in sources:
        network = as_network(source)
        if network is None:
            problems.append(f"source '{redact_hf_tokens(str(source))[:80]}' {range_syntax_problem(source)}")
            continue
        label = f"source '{source}'"
        meaning = ipv4_meaning(network)
        if meaning:
            network = meaning[0]
            label += f" (the IPv4 range {network}: {meaning[1]})"
        why_not = not_a_source_problem(network)
        if why_not:
            problems.append(f"{label} {why_not}; give the clients' real public ranges")
            continue
        if network.prefixlen < broadest[network.version]:
            problems.append(f"{label} is broader than /{broadest[network.version]}")
        networks.append(network)
    for version, prefix in broadest.items():
        family = [n for n in networks if n.version == version]
        if not family:
            continue
        limit = 2 ** (family[0].max_prefixlen - prefix)
        total = sum(n.num_addresses for n in ipaddress.collapse_addresses(family))
        if total > limit:
            shown = [str(n) for n in family]
            listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
            problems.append(f"together the sources {listed} cover more addresses than a /{prefix}")
    return problems


# ---------------------------------------------------------------- tags

def case_clashing_tag_names(names: Iterable[str]) -> tuple[str, str] | None:
    """The first two tag names that differ only in case ('Team' and 'team'), or None. Azure takes
    them for one tag ("The tag name can have a maximum of 512 characters and is case insensitive":
    the ARM Tags API, Az.Resources Set-AzTag), so one of the two values would be lost. Compared in
    lower case, letter by letter (no ß-to-ss folding)."""
    seen: dict[str, str] = {}
    for name in names:
        if not isinstance(name, str):
            continue
        first = seen.setdefault(name.lower(), name)
        if first != name:
            return first, name
    return None


# ---------------------------------------------------------------- secrets in text

# Hugging Face user access tokens: "hf_" and 34 letters. The Hub's page (huggingface.co/docs/hub/
# security-tokens) gives no grammar; gitleaks' rule huggingface-access-token, which cites it, matches
# hf_ + 34 letters, and every real token among its test cases is letters only (gitleaks
# cmd/generate/config/rules/huggingface.go). Digits are taken too, and 30 are enough: a token cut
# short still gives most of it away.
HF_TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{30,}")
HF_TOKEN_BODY = 30  # the fewest letters and digits after 'hf_' that count as a token
HF_TOKEN_LENGTH = 34  # a token's letters and digits: a spread one ends after this many

# The same token written with anything between its characters: spaces, dots, dashes, an email's
# '+', '~' or '!', a tag's '=', a line break, as many as you like. A separator is any character that
# is not a letter, digit or mark (Unicode categories Z, P, S, C); a letter, digit or mark of another
# script ends the token (it is not one any more). Characters a reader does not see are dropped
# first: Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt: soft hyphen, zero-width
# space, joiners, word joiner, bidi marks, variation selectors, Hangul fillers, tag characters, the
# BOM) and every other format character (category Cf); and each character is read as its NFKC
# form, so a fullwidth 'ｈｆ＿' is 'hf_'.
IGNORABLE_RANGES = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
                    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
                    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
                    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
                    (0xE0000, 0xE0FFF))
# A letter of another script drawn like an ASCII letter or digit reads as that letter or digit: a
# Cyrillic 'һ' or Greek 'Ι' does not hide a token. The single letters of Latin (small capitals,
# dotless i, long s), Greek, Coptic, Cyrillic, Armenian and Cherokee that Unicode's confusables.txt
# (UTS #39, https://www.unicode.org/reports/tr39/) gives as confusable with one ASCII letter or digit
# and NFKC does not already map (taken from confusable_homoglyphs 3.3.1's confusables.json, which is
# built from that file); the combining marks (categories Mn, Me) a character can carry are dropped.
_HOMOGLYPHS = str.maketrans(
    {glyph: ascii_char for glyph, ascii_char in zip(
        'ɑαаƄЬᏏᴄϲⲥсꮯԁᏧꬲеҽꬵꞙſẝքɡᶃƍցһհᏂıɪɩιιͺіꙇӏꭵᎥϳјƖǀΙⲒІӀոռᴏᴑꬽοσⲟоօρϱⲣрԛգզꭇꭈᴦⲅгꮁꜱƽѕꮪꞟᴜꭎꭒʋυսᴠνѵꮩɯᴡѡԝաꮃхɣᶌʏỿꭚγуүᴢꮓΑАᎪꞴΒВᏴϹⲤСᏟᎠΕЕᎬ𝈓ꞘϜԌᏀᏳΗⲎНᎻꞲͿЈᎫΚⲔКᏦ𝈪ⳐᏞΜϺⲘМᎷΝⲚΟⲞОՕΡⲢРᏢ𝈖ƦᎡᏒЅՏᏕᏚΤⲦТᎢՍ𝈍ѴᏙԜᎳᏔꞳΧⲬХΥϒⲨУҮᎩᎽ𐋵ΖᏃꝚƧϨꙄ𝈆ꞫȜƷꝪⳌЗӠᏎƼⳒбᏮ𝈒ȣȢꝮⳊ',
        'aaabbbcccccddeeefffffgggghhhiiiiiiiiiiijjllllllnnooooooooppppqqqrrrrrrssssuuuuuuuvvvvwwwwwwxyyyyyyyyzzAAABBBBCCCCDEEEFFFGGGHHHHJJJJKKKKLLLMMMMMNNOOOOPPPPRRRRSSSSTTTTUVVVWWWXXXXYYYYYYYZZZ2222333333334566678899')})
_OTHER_SCRIPT = "\uffff"  # stands in the skeleton for a letter, digit or mark no token holds
# 'HF_' too: the same secret with its prefix in capitals (the body must still read as random)
_PREFIX = re.compile(r"[hH][^A-Za-z0-9\uffff]*?[fF][^A-Za-z0-9\uffff]*?_")
_PREFIX_CUT = re.compile(r"[hH][^A-Za-z0-9\uffff]*(?:[fF][^A-Za-z0-9\uffff]*)?$")  # a prefix that goes on in the next piece
_BODY_CHAR = re.compile(r"[A-Za-z0-9\uffff]")
# A spread run counts as a token when its letters and digits read as random, not as words: they
# mix upper and lower case; neighbours change class (upper case, lower case, digit) at least once
# every five pairs; and at most 65% of the pairs of neighbouring letters are two lower-case ones. A
# random token of letters has a quarter such pairs and switches every second character; words
# joined across spaces ('hf_token is in the key vault') are almost all lower-case pairs. Title Case
# and PascalCase words without figures sit near the limit and are often taken for a token.
# tests/test_shared_rules.py measures both sides: random tokens missed, and how often 'hf_' put
# before a word of the project's own docs reads as a token.
HF_TOKEN_SWITCH_SHARE = 0.2
HF_TOKEN_LOWER_PAIR_SHARE = 0.65


def _is_ignorable(char: str) -> bool:
    code = ord(char)
    return unicodedata.category(char) == "Cf" or any(low <= code <= high for low, high in IGNORABLE_RANGES)


@functools.lru_cache(maxsize=4096)
def _read_as(char: str) -> str:
    """What a non-ASCII character reads as when looking for a token: '' (unseen), its ASCII NFKC form
    (fullwidth 'Ａ' is 'A'), ' ' (a separator) or _OTHER_SCRIPT (a letter, digit or mark)."""
    if _is_ignorable(char) or unicodedata.category(char) in ("Mn", "Me"):
        return ""
    lookalike = char.translate(_HOMOGLYPHS)
    if lookalike != char:
        return lookalike
    normal = unicodedata.normalize("NFKC", char)
    if normal.isascii():
        return normal
    return _OTHER_SCRIPT if unicodedata.category(char)[0] in "LNM" else " "


def _skeleton(text: str) -> tuple[str, list[int] | None]:
    """``text`` as a token finder reads it, and where each of its characters came from in ``text``
    (None: the same place; ASCII text reads as itself)."""
    if text.isascii():
        return text, None
    read, where = [], []
    for index, char in enumerate(text):
        seen = char if char.isascii() else _read_as(char)
        read.append(seen)
        where.extend([index] * len(seen))
    return "".join(read), where


def _body_after(skeleton: str, position: int) -> tuple[str, int]:
    """The letters and digits from ``position`` on, separators skipped, up to HF_TOKEN_LENGTH or
    another script's character; and where the last one is (or -1)."""
    body, last = [], -1
    for match in _BODY_CHAR.finditer(skeleton, position):
        if match.group() == _OTHER_SCRIPT:
            break
        body.append(match.group())
        last = match.start()
        if len(body) == HF_TOKEN_LENGTH:
            break
    return "".join(body), last


def _class_switches(text: str) -> int:
    classes = ["d" if c.isdigit() else "u" if c.isupper() else "l" for c in text]
    return sum(1 for a, b in itertools.pairwise(classes) if a != b)


def _reads_as_random(body: str) -> bool:
    """A spread token's letters and digits, not words (see HF_TOKEN_LOWER_PAIR_SHARE)."""
    letter_pairs = [(a, b) for a, b in itertools.pairwise(body) if a.isalpha() and b.isalpha()]
    lower_pairs = sum(1 for a, b in letter_pairs if a.islower() and b.islower())
    return (len(body) >= HF_TOKEN_BODY and any(c.isupper() for c in body) and any(c.islower() for c in body)
            and _class_switches(body) >= HF_TOKEN_SWITCH_SHARE * (len(body) - 1)
            and lower_pairs <= HF_TOKEN_LOWER_PAIR_SHARE * len(letter_pairs))


def hf_token_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds something shaped like a Hugging Face token (start, end), in order: 'hf_'
    and 30 or more letters and digits, whole, or with separators anywhere inside (the run then
    reads as random, not as words: HF_TOKEN_LOWER_PAIR_SHARE); empty when nothing does."""
    if text.isascii() and ("_" not in text or ("h" not in text and "H" not in text)):
        return []
    skeleton, where = _skeleton(text)
    found = [match.span() for match in HF_TOKEN_PATTERN.finditer(skeleton)]
    for prefix in _PREFIX.finditer(skeleton):
        body, last = _body_after(skeleton, prefix.end())
        if _reads_as_random(body):
            found.append((prefix.start(), last + 1))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    if where is None:
        return merged
    return [(where[start], where[end - 1] + 1) for start, end in merged]


def hf_token_in(text: object) -> bool:
    """``text`` holds something shaped like a Hugging Face token (see ``hf_token_spans``)."""
    return isinstance(text, str) and bool(hf_token_spans(text))


def _token_starts(pieces: list[str]) -> Iterable[tuple[str, set[int]]]:
    """The beginnings of a token among ``pieces``: the letters and digits after an 'hf_' in one piece
    (or in two, 'h' | 'f_...'), and which pieces that took."""
    skeletons = [_skeleton(piece)[0] for piece in pieces]
    for index, skeleton in enumerate(skeletons):
        for prefix in _PREFIX.finditer(skeleton):
            yield _body_after(skeleton, prefix.end())[0], {index}
        cut = _PREFIX_CUT.search(skeleton)
        if cut is None:
            continue
        for other, rest in enumerate(skeletons):
            prefix = _PREFIX.match(skeleton + rest, cut.start()) if other != index else None
            if prefix is not None and prefix.end() > len(skeleton):
                yield _body_after(skeleton + rest, prefix.end())[0], {index, other}


# A tag name or value made of plain words: capitalised or lower-case words, acronyms and numbers
# whose letters are mostly lower-case pairs ('CostCenter', 'ml-platform', 'Production'). A random
# piece of 10 letters reads so about 3% of the time. When the other pieces are put after a piece
# holding 'hf_', those come last, and at least HF_TOKEN_UNWORDED of the token's letters must come
# from the start and the pieces that are not plain words: ordinary tags beside an 'hf_team' are
# words; a token's pieces are not. tests/test_shared_rules.py measures it (tokens in 3-6 shuffled
# pieces among ordinary tags, and ordinary tags with an hf_ word).
_RUNS = re.compile(r"[A-Z]+|[a-z]+|[0-9]+")
HF_TOKEN_UNWORDED = 14


def _words_only(letters: str) -> bool:
    """``letters`` is words, acronyms and numbers run together: every lower-case run has 2+ letters (one
    capital may start it), every capital run not starting a word has 2+ ('CostCenter', 'ml', 'HTTPServer',
    '4711'). Read run by run, in linear time (a regular expression of repeated alternatives backtracks
    exponentially on a long run that fails)."""
    runs = _RUNS.findall(letters)
    if "".join(runs) != letters:
        return False
    for index, run in enumerate(runs):
        following = runs[index + 1] if index + 1 < len(runs) else ""
        if run[0].isupper():
            capitals = len(run) - 1 if following[:1].islower() else len(run)  # the last one starts a word
            if capitals == 1:
                return False
        elif run[0].islower():
            if len(run) < 2:
                return False
    return True


def _plain_words(letters: str) -> bool:
    pairs = list(itertools.pairwise(letters))
    lower = sum(a.islower() and b.islower() for a, b in pairs)
    return _words_only(letters) and lower >= 0.5 * len(pairs)


# How many joined runs hf_token_in_pieces reads at most (~0.5 s): past it, pieces are taken to hold a
# token, the worse case. Ordinary tags and ConfigMaps read a few hundred; only thousands of pieces
# that each start a token-like run reach it.
HF_PIECES_BUDGET = 40_000


def _may_read_as_random(start: str) -> bool:
    """Whether some run of HF_TOKEN_LENGTH letters and digits beginning with ``start`` can read as
    random (``_reads_as_random``): not when ``start``'s own lower-case pairs are already more than
    HF_TOKEN_LOWER_PAIR_SHARE of the pairs such a run has, or when it changes class too seldom for
    what the rest of the run can add."""
    if len(start) >= HF_TOKEN_LENGTH:
        return True
    lower_pairs = sum(1 for a, b in itertools.pairwise(start) if a.islower() and b.islower())
    if lower_pairs > HF_TOKEN_LOWER_PAIR_SHARE * (HF_TOKEN_LENGTH - 1):
        return False
    return _class_switches(start) + HF_TOKEN_LENGTH - len(start) >= HF_TOKEN_SWITCH_SHARE * (HF_TOKEN_BODY - 1)


def _first(texts: Iterable[str], count: int) -> str:
    """The first ``count`` characters of ``texts`` joined (only a run's first HF_TOKEN_LENGTH matter)."""
    taken: list[str] = []
    for text in texts:
        if count <= 0:
            break
        taken.append(text[:count])
        count -= len(taken[-1])
    return "".join(taken)


def hf_token_in_pieces(pieces: Iterable[str]) -> bool:
    """A Hugging Face token in one of ``pieces`` or split across any number of them, in any order (tag
    names and values: a reader can put them back together). Joined pieces are read as a token with
    separators inside (``hf_token_spans``): all of them as given; a piece holding 'hf_' (or 'h' and
    then 'f_' in another) followed by any one other; and followed by all the others, those that are
    not plain words first (HF_TOKEN_UNWORDED). Only a run's first HF_TOKEN_LENGTH letters and digits
    are read, each distinct run once, so thousands of pieces take linear time; past HF_PIECES_BUDGET
    runs the answer is yes (the worse case)."""
    pieces = [piece for piece in pieces if isinstance(piece, str)]
    if any(hf_token_in(piece) for piece in pieces) or hf_token_in(" ".join(pieces)):
        return True
    letters = [None if _OTHER_SCRIPT in (skeleton := _skeleton(piece)[0])
               else re.sub(r"[^A-Za-z0-9]", "", skeleton) for piece in pieces]
    worded = [index for index, text in enumerate(letters) if text and _plain_words(text)]
    unworded = [index for index, text in enumerate(letters) if text and not _plain_words(text)]
    heads: dict[int, collections.Counter] = {}  # a run's length still needed -> the pieces' beginnings
    budget = HF_PIECES_BUDGET
    for start, used in _token_starts(pieces):
        if not _may_read_as_random(start):
            continue
        need = HF_TOKEN_LENGTH - len(start)
        if need <= 0:
            budget -= 1
            if _reads_as_random(start[:HF_TOKEN_LENGTH]):
                return True
            continue
        if need not in heads:
            heads[need] = collections.Counter(text[:need] for text in letters if text)
        own = collections.Counter(letters[index][:need] for index in used if letters[index])
        candidates = [start + head for head, count in heads[need].items() if count > own[head]]
        rest = _first((letters[index] for index in unworded if index not in used), need)
        if len(start) + len(rest) >= HF_TOKEN_UNWORDED:
            run = start + rest
            candidates.append(run + _first((letters[index] for index in worded if index not in used),
                                           HF_TOKEN_LENGTH - len(run)))
        budget -= len(candidates)
        if budget < 0:
            return True
        if any(_reads_as_random(candidate) for candidate in candidates):
            return True
    return False


def redact_hf_tokens(text: str, replacement: str = "<a Hugging Face token, redacted>") -> str:
    """``text`` with everything shaped like a Hugging Face token replaced."""
    for start, end in reversed(hf_token_spans(text)):
        text = text[:start] + replacement + text[end:]
    return text
