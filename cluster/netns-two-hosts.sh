#!/usr/bin/env bash
# Two "hosts" on this machine: network namespaces joined by a veth pair (10.99.0.1 and 10.99.0.2),
# and a 2-rank `wavemix train` across them over TCP, launched by mpirun from the first namespace
# with an rsh agent that enters the other one. Both namespaces see the same file system, as nodes
# with a shared file system do. Everything is torn down on exit, success or not.
#
#   cluster/netns-two-hosts.sh WAVEMIX_BINARY [TRAIN ARGS...]
#
# Exit status: the run's; 77 when namespaces cannot be made here (not root, no `ip netns`).
set -euo pipefail
binary=$(readlink -f "$1"); shift
ns1=wmx-host1-$$ ns2=wmx-host2-$$ veth=wmxv$$
work=$(mktemp -d)

cleanup() {
    ip netns del "$ns1" 2>/dev/null || true
    ip netns del "$ns2" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! ip netns add "$ns1" 2>/dev/null; then
    echo "netns-two-hosts: cannot create network namespaces here (needs root and iproute2); skipping" >&2
    exit 77
fi
ip netns add "$ns2"
ip link add "${veth}a" type veth peer name "${veth}b"
ip link set "${veth}a" netns "$ns1"
ip link set "${veth}b" netns "$ns2"
ip -n "$ns1" addr add 10.99.0.1/24 dev "${veth}a"
ip -n "$ns2" addr add 10.99.0.2/24 dev "${veth}b"
for ns in "$ns1" "$ns2"; do ip -n "$ns" link set lo up; done
ip -n "$ns1" link set "${veth}a" up
ip -n "$ns2" link set "${veth}b" up

printf '10.99.0.1 slots=1\n10.99.0.2 slots=1\n' >"$work/hostfile"
# mpirun starts its daemon on the other host through this agent instead of ssh.
cat >"$work/agent" <<AGENT
#!/bin/sh
host=\$1; shift
case \$host in
    10.99.0.1) ns=$ns1 ;;
    10.99.0.2) ns=$ns2 ;;
    *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" sh -c "\$*"
AGENT
chmod +x "$work/agent"

before=$(ip -n "$ns1" -s -j link show "${veth}a" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["bytes"])')
status=0
ip netns exec "$ns1" mpirun -np 2 --hostfile "$work/hostfile" --allow-run-as-root --timeout 300 \
    --mca plm_rsh_agent "$work/agent" --bind-to none \
    --mca btl tcp,self --mca btl_tcp_if_include 10.99.0.0/24 --mca oob_tcp_if_include 10.99.0.0/24 \
    -x WAVEMIX_THREADS=1 -x PATH \
    "$binary" train "$@" || status=$?
after=$(ip -n "$ns1" -s -j link show "${veth}a" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["bytes"])')
echo "netns-two-hosts: host 1 sent $((after - before)) bytes to host 2 over the veth pair"
exit $status
