"""``protected:``: servers that can never be a target, compared as servers,
not as spellings.

Before connecting, the target's address is resolved the way libpq resolves
it (``?host=``, ``PGHOST``, service files, Unix sockets, ``hostaddr``) and
compared with each entry by name and by address: ``localhost``, ``127.1``,
``[::ffff:127.0.0.1]``, ``LOCALHOST.`` and a socket folder all reach the
machine ``127.0.0.1`` names. After connecting (to the maintenance database,
nothing is created), what the server says about itself is compared too: the
address it answers on, and its ``system_identifier`` against that of each
protected entry on this machine. See docs/configuration.md.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from dataclasses import dataclass, field

from datacloner.core.errors import Refused, UsageError
from datacloner.engines import registry as engines

_HINT = "protected hosts can never be a target; pick another environment URL"


@dataclass(frozen=True)
class Entry:
    """One ``protected:`` item: a host name, address or glob, maybe with a port."""

    text: str
    host: str
    port: int | None
    glob: bool
    addrs: frozenset[str] = frozenset()  # empty: a glob, or a name that does not resolve

    @property
    def local(self) -> bool:
        return any(local_address(a) for a in self.addrs)

    def port_ok(self, port: int) -> bool:
        return self.port is None or self.port == port


@dataclass
class Endpoint:
    """A server the target URL may reach."""

    name: str  # as written, normalized; a socket folder for a Unix socket
    port: int
    addrs: frozenset[str] = field(default_factory=frozenset)
    socket: bool = False
    resolved: bool = True

    @property
    def local(self) -> bool:
        return self.socket or any(local_address(a) for a in self.addrs)


def normal_host(host: str) -> str:
    """``LOCALHOST.`` and ``[::1]`` as ``localhost`` and ``::1``."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".") if not host.startswith("/") else host.rstrip("/") or "/"


def normal_address(address: str) -> str:
    """An IP address as one spelling: ``::ffff:127.0.0.1`` is ``127.0.0.1``,
    ``127.1`` is ``127.0.0.1``, a zone (``%eth0``) is dropped."""
    address = normal_host(address).split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = ipaddress.ip_address(socket.inet_ntoa(socket.inet_aton(address)))  # 127.1
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def addresses(host: str) -> frozenset[str] | None:
    """Every address ``host`` resolves to; None when it does not resolve."""
    try:
        infos = socket.getaddrinfo(normal_host(host), None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    return frozenset(normal_address(str(info[4][0])) for info in infos) or None


def local_address(address: str) -> bool:
    """An address of this machine: loopback, or one a socket can bind to."""
    ip = ipaddress.ip_address(address)
    if ip.is_loopback:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
    except OSError:
        return False
    return True


def parse_entry(text: str) -> Entry:
    """``db.prod.internal``, ``10.0.0.5:5433``, ``[::1]:5433``, ``::1``, ``*.prod.*``."""
    text = text.strip()
    host, port = text, None
    found = re.fullmatch(r"\[(.+)\]:(\d+)|([^:\[\]]*):(\d+)", text)
    if found:
        host = found.group(1) or found.group(3)
        port = int(found.group(2) or found.group(4))
    host = normal_host(host)
    if any(c in host for c in "*?[") and not text.startswith("["):
        return Entry(text, host, port, glob=True)
    return Entry(text, host, port, glob=False, addrs=addresses(host) or frozenset())


def target_endpoints(url: str) -> list[Endpoint]:
    """The servers a target URL reaches, resolved as its client resolves them
    (none for a file)."""
    found = []
    for host, hostaddr, port, is_socket in engines.engine_of(url).endpoints(url):
        if hostaddr:
            found.append(Endpoint(normal_host(host), port, _numeric(hostaddr)))
        elif is_socket:
            found.append(Endpoint(normal_host(host) if host else "", port, socket=True))
        else:
            found.append(_named(host, port))
    return found


def _named(host: str, port: int) -> Endpoint:
    addrs = addresses(host)
    return Endpoint(normal_host(host), port, addrs or frozenset(), resolved=addrs is not None)


def _numeric(hostaddr: str) -> frozenset[str]:
    try:
        return frozenset({normal_address(hostaddr)})
    except (ValueError, OSError):
        raise UsageError(
            "the target URL's hostaddr is not a numeric IP address",
            hint="hostaddr takes an address such as 10.0.0.5; put names in host",
        ) from None


def match(entry: Entry, ep: Endpoint) -> str | None:
    """Why ``ep`` is the protected ``entry``, or None."""
    shown = ep.name or "(libpq's default Unix socket)"
    if not entry.port_ok(ep.port):
        return None
    if entry.glob:
        if any(fnmatch.fnmatchcase(n, entry.host) for n in (ep.name, *ep.addrs) if n):
            return f"the target host {shown} is protected (matches `{entry.text}` in `protected:`)"
        return None
    if ep.name and ep.name == entry.host:
        return f"the target host {shown} is protected (`{entry.text}` in `protected:`)"
    if ep.addrs & entry.addrs:
        return f"the target host {shown} is the protected host {entry.text} under another name"
    if ep.local and entry.local:
        how = "a Unix socket" if ep.socket else "an address"
        return (
            f"the target host {shown} is {how} of this machine, which the protected "
            f"host {entry.text} names"
        )
    return None


def refuse_protected(target_url: str, protected: tuple[str, ...]) -> None:
    """Refuse a target that is (or may be) a protected server, before anything
    is created on it. A target name that does not resolve is refused when any
    entry needs an address comparison: refusing beats guessing."""
    if not protected:
        return
    entries = [parse_entry(p) for p in protected]
    found = target_endpoints(target_url)
    literal = [e for e in entries if not e.glob]
    for ep in found:
        if not ep.resolved and literal:
            raise Refused(
                f"the target host {ep.name} does not resolve from this machine: cannot tell "
                "whether it is a protected host, so it is refused",
                hint="check the environment's URL (or PGHOST) and this machine's DNS",
            )
        for entry in entries:
            reason = match(entry, ep)
            if reason:
                raise Refused(reason, hint=_HINT)
    if found and any(e.addrs for e in literal):
        _refuse_protected_server(target_url, [e for e in literal if e.addrs])


def _refuse_protected_server(url: str, entries: list[Entry]) -> None:
    """Once connected: the address and identity the server reports, so that a
    second name for a protected server (a tunnel, a published container port,
    a socket) cannot pass. Remote protected hosts are never contacted."""
    facts = engines.engine_of(url).server_facts(url)
    if facts is None:  # the engine cannot ask its server
        return
    addr = normal_address(facts.address) if facts.address else ""
    port = facts.port
    ep = Endpoint(
        facts.host or "the target", port, frozenset({addr}) if addr else frozenset(), not addr
    )
    for entry in entries:
        reason = match(entry, ep)
        if reason:
            raise Refused(
                f"{reason} (the server answers on {addr or 'a Unix socket'}, port {port})",
                hint=_HINT,
            )
        for local in sorted(a for a in entry.addrs if local_address(a)):
            theirs = facts.probe(local, entry.port or port)
            if theirs and theirs == facts.cluster:
                raise Refused(
                    f"the target server is the protected server {entry.text}: both report "
                    "the same system identifier",
                    hint=_HINT,
                )
