#!/usr/bin/env bash
# Installs the Debian packages the privileged tests, the lab (with its real
# nodes: containerd, runc, the CNI plugins), the demo and `make
# verify-image` (qemu-user, to start the arm64 and arm/v7 binaries) use,
# when they are missing. Safe to run again; does nothing when all is
# there. Needs root (apt-get).
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip      || need+=(iproute2)
have ping    || need+=(iputils-ping)
have arping  || need+=(iputils-arping)
have ndisc6  || need+=(ndisc6)
have nft     || need+=(nftables)
have curl    || need+=(curl)
have tcpdump || need+=(tcpdump)
{ have qemu-aarch64-static && have qemu-arm-static; } || need+=(qemu-user-static)
# The lab's real nodes: a container runtime, the CNI plugins, and the
# tools they call (nsenter and unshare come with util-linux; kubelet
# and kube-proxy look for iptables).
have containerd || need+=(containerd)
have runc       || need+=(runc)
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
have iptables   || need+=(iptables)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing ${need[*]}; run as root (or install them) for the privileged tests" >&2
	exit 0
fi
echo "install-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
