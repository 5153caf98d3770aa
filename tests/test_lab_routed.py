"""The routed lab: two subnets joined by a router namespace (tests/netlab.py, ``Lab(n, subnets=2)``).

Unicast must cross the router and no broadcast may: not the limited broadcast
255.255.255.255, not the sender's subnet broadcast, not the other subnet's
directed broadcast.  Nothing may appear in the root namespace.
"""

import subprocess

import netlab
import pytest

pytestmark = netlab.pytest_marks()


def root_links() -> list[str]:
    ip = netlab.tool("ip")
    out = subprocess.run([ip, "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split(":")[1].strip() for line in out.splitlines())


def test_unicast_crosses_the_router_broadcasts_do_not():
    before = root_links()
    assert netlab.routed_check() == netlab.ROUTED_EXPECTED
    assert root_links() == before


def test_routed_lab_addresses_and_layout():
    with netlab.Lab(3, subnets=2) as lab:
        assert [lab.side(i) for i in (1, 2, 3)] == [1, 1, 2]
        assert lab.hosts_on(1) == [1, 2] and lab.hosts_on(2) == [3]
        assert (lab.addr(1), lab.addr(3)) == (f"{lab.nets[0]}.1", f"{lab.nets[1]}.3")
        assert lab.broadcast_of(3) == f"{lab.nets[1]}.255" and lab.broadcast == f"{lab.nets[0]}.255"
        assert lab.router_addr(2) == f"{lab.nets[1]}.254"
        route = lab.run(3, ["ip", "route", "show", "default"]).stdout
        assert f"default via {lab.router_addr(2)} dev eth0" in route
        addr = lab.run(3, ["ip", "-o", "-4", "addr", "show", "eth0"]).stdout
        assert f"inet {lab.addr(3)}/24 brd {lab.broadcast_of(3)}" in addr
        assert lab.router in netlab.list_namespaces()
    assert lab.router not in netlab.list_namespaces()


def test_one_subnet_lab_has_no_router():
    lab = netlab.Lab(2)
    assert lab.router is None and lab.broadcast_of(2) == lab.broadcast
    with pytest.raises(ValueError):
        lab.router_addr(1)
    with pytest.raises(ValueError):
        netlab.Lab(1, subnets=2)
    with pytest.raises(ValueError):
        netlab.Lab(3, subnets=2, split=3)
