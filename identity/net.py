"""Who is on the other end of a request: the client's address and a readable name for their device."""

from __future__ import annotations

import ipaddress
from functools import cache, lru_cache

from django.conf import settings
from django.utils.translation import gettext as _
from ua_parser import parse as parse_user_agent

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@cache
def _trusted_networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return parse_networks(spec)


def parse_networks(spec) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Addresses or CIDR networks; ValueError names the first entry that is neither."""
    networks = []
    for item in spec:
        try:
            networks.append(ipaddress.ip_network(item.strip().strip("[]"), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {item!r}") from None
    return tuple(networks)


def _parse(value: str) -> IPAddress | None:
    """An address, with IPv4-mapped IPv6 (::ffff:10.0.0.5, as dual-stack sockets report) unmapped."""
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def from_trusted_proxy(request) -> bool:
    """Whether the request reached us through one of TRUSTED_PROXIES."""
    remote = _parse(request.META.get("REMOTE_ADDR", ""))
    return remote is not None and any(
        remote in network for network in _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    )


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, unless that is a trusted proxy.

    Then X-Forwarded-For is read from the right, skipping trusted proxies, and the first untrusted hop
    is the client. Anything left of it could have been written by the client, so it is never believed;
    a spoofed header from an untrusted client is ignored entirely.
    """
    remote = _parse(request.META.get("REMOTE_ADDR", "")) or ipaddress.ip_address("0.0.0.0")  # noqa: S104 (not a bind)
    trusted = _trusted_networks(tuple(settings.TRUSTED_PROXIES))

    def is_trusted(address: IPAddress) -> bool:
        return any(address in network for network in trusted)

    if not is_trusted(remote):
        return str(remote)
    client = remote
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _parse(hop)
        if address is None:
            break  # a malformed hop: stop at the last address a trusted proxy vouched for
        client = address
        if not is_trusted(address):
            break
    return str(client)


def rate_limit_subject(ip: str) -> str:
    """IPv6 hosts usually own a whole /64, so they are counted per /64; IPv4 per address."""
    address = ipaddress.ip_address(ip)
    if address.version == 6 and not address.ipv4_mapped:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if address.version == 6 else str(address)


@lru_cache(maxsize=1024)
def _families(user_agent: str) -> tuple[str, str]:
    parsed = parse_user_agent(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else ""
    system = parsed.os.family if parsed.os else ""
    return ("" if browser == "Other" else browser), ("" if system == "Other" else system)


def device_families(user_agent: str) -> tuple[str, str]:
    """(browser, system), e.g. ("Firefox", "Windows"): names in no language, to describe later."""
    return _families(user_agent[:512]) if user_agent else ("", "")


def describe_device(user_agent: str) -> str:
    """'Firefox on Windows', for lists of sessions and sign-ins."""
    return describe_families(*device_families(user_agent))


def describe_families(browser: str, system: str) -> str:
    """'Firefox on Windows' in the language of the request at hand."""
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    return browser or system or _("Unknown device")
