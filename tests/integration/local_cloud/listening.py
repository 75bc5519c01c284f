"""What a process listens on, read from /proc (Linux): the kernel's word, not the
server's own report of its address."""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from pathlib import Path

import pytest

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column

needs_proc = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/<pid>/net/tcp (Linux)"
)


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        match = re.fullmatch(r"socket:\[(\d+)\]", target)
        if match:
            inodes.add(int(match[1]))
    return inodes


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # the kernel prints each 32-bit word in host (little-endian) order
    words = b"".join(raw[index : index + 4][::-1] for index in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening_addresses(pid: int, port: int) -> set[str]:
    """The local addresses process `pid` listens on at `port` (IPv4 and IPv6)."""
    inodes = _socket_inodes(pid)
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            hex_address, hex_port = local.split(":")
            if state == _LISTEN and inode in inodes and int(hex_port, 16) == port:
                found.add(_address(hex_address))
    return found
