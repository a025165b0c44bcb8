#!/usr/bin/env bash
# Makes testdata/capture.pcap, the seed of FuzzReceive (run as root from l2/):
#   go test -c -o /tmp/l2.test . && bash testdata/capture.sh && cp /tmp/l2cap.pcap testdata/capture.pcap
# then regenerate testdata/fuzz/FuzzReceive/capture-* from the pcap (one file per frame).
# Namespaces llt-cap-<pid>-*, documentation addresses only; removed on exit.
set -u
P=llt-cap-$$
cleanup() { for n in sw a b c; do ip netns del $P-$n 2>/dev/null; done; }
trap cleanup EXIT
for n in sw a b c; do ip netns add $P-$n; done
ip -n $P-sw link add br0 type bridge; ip -n $P-sw link set br0 up
i=1
for n in a b c; do
  ip netns exec $P-$n sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  ip -n $P-sw link add p-$n type veth peer name eth0 netns $P-$n
  ip -n $P-sw link set p-$n master br0 up
  ip -n $P-$n link set lo up
  ip -n $P-$n addr add 192.0.2.$i/24 dev eth0; ip -n $P-$n addr add 2001:db8::$i/64 dev eth0 nodad
  ip -n $P-$n link set eth0 up
  i=$((i+1))
done
ip netns exec $P-c tcpdump -U -i eth0 -w /tmp/l2cap.pcap 'arp or icmp6' 2>/dev/null &
TD=$!
sleep 0.5
mkfifo /tmp/l2fifo-a /tmp/l2fifo-b
(LEASELB_L2_HELPER=1 ip netns exec $P-a /tmp/l2.test < /tmp/l2fifo-a > /dev/null) &
(LEASELB_L2_HELPER=1 ip netns exec $P-b /tmp/l2.test < /tmp/l2fifo-b > /dev/null) &
exec 3>/tmp/l2fifo-a 4>/tmp/l2fifo-b
echo "set 192.0.2.10,2001:db8::10" >&3; sleep 0.3
ip netns exec $P-c ping -c1 -W1 192.0.2.10 >/dev/null
ip netns exec $P-c ping -6 -c1 -W1 2001:db8::10 >/dev/null
ip netns exec $P-c arping -c2 -w2 -I eth0 192.0.2.10 >/dev/null
ip netns exec $P-c arping -c1 -w1 -D -I eth0 192.0.2.10 >/dev/null   # DAD-style probe
ip netns exec $P-c arping -c1 -w1 -U -I eth0 -s 192.0.2.100 192.0.2.100 >/dev/null
ip netns exec $P-c ndisc6 -1 -r1 -w500 2001:db8::10 eth0 >/dev/null
ip netns exec $P-c ndisc6 -1 -r1 -w500 -s 2001:db8::3 2001:db8::10 eth0 >/dev/null
echo "set 192.0.2.10,2001:db8::10" >&4; sleep 2.5
ip netns exec $P-c ping -c1 -W1 192.0.2.1 >/dev/null
ip netns exec $P-c ping -6 -c1 -W1 2001:db8::1 >/dev/null
echo close >&3; echo close >&4; exec 3>&- 4>&-
sleep 0.5; kill $TD; wait $TD 2>/dev/null
rm -f /tmp/l2fifo-a /tmp/l2fifo-b
