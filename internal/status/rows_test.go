package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/election"
	"github.com/leaselb/leaselb/internal/doctor"
	"github.com/leaselb/leaselb/internal/speaker"
)

const ns = "leaselb-system"

var now = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

func node(name string, labels ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelOSStable: "linux"}}}
	for _, l := range labels {
		n.Labels[l] = ""
	}
	return n
}

func svc(name string, ips ...string) corev1.Service {
	s := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster},
	}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func vipLease(name, holder string, acquiredAgo time.Duration, transitions int32, annots map[string]string) coordinationv1.Lease {
	return coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{election.RoleLabel: election.RoleVIP}, Annotations: annots},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseTransitions: ptr.To(transitions),
			AcquireTime: ptr.To(metav1.NewMicroTime(now.Add(-acquiredAgo)))},
	}
}

func nodeLease(node string, renewedAgo time.Duration, macs string) coordinationv1.Lease {
	return coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: election.NodeLeaseName(node), Namespace: ns,
			Labels: map[string]string{election.RoleLabel: election.RoleNode}, Annotations: map[string]string{election.AnnotationMACs: macs}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(node), LeaseDurationSeconds: ptr.To[int32](2),
			RenewTime: ptr.To(metav1.NewMicroTime(now.Add(-renewedAgo)))},
	}
}

func ev(reason, typ, service, host, msg string, ago time.Duration) corev1.Event {
	return corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%s.%s.%d", service, reason, host, int(ago.Seconds())), Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Service", Namespace: "default", Name: service, UID: types.UID("uid-" + service)},
		Reason:         reason, Type: typ, Message: msg,
		LastTimestamp: metav1.NewTime(now.Add(-ago)),
		Source:        corev1.EventSource{Component: speaker.Component, Host: host},
	}
}

// cluster is a small cluster with one group in each state.
func cluster() *doctor.Snapshot {
	web := svc("web", "192.0.2.10")
	dns := svc("dns", "192.0.2.11") // shares with dns-tcp
	dnsTCP := svc("dns-tcp", "192.0.2.11")
	db := svc("db", "192.0.2.12")
	db.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	gone := svc("gone", "192.0.2.13")
	dual := svc("dual", "192.0.2.14", "2001:db8::14")
	fresh := svc("fresh") // no IP yet
	api := svc("api", "192.0.2.15")
	pool := v1alpha1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "lan", Namespace: ns},
		Spec: v1alpha1.IPAddressPoolSpec{Addresses: []v1alpha1.AddressRange{"192.0.2.0/24", "2001:db8::/64"}}}
	ad := v1alpha1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "lan", Namespace: ns}}
	return &doctor.Snapshot{
		Namespace: ns, Now: now, Errors: map[string]string{},
		Nodes:          []corev1.Node{node("n1"), node("n2"), node("cp", v1alpha1.LabelExcludeFromLB)},
		Pools:          []v1alpha1.IPAddressPool{pool},
		Advertisements: []v1alpha1.L2Advertisement{ad},
		Services:       []corev1.Service{web, dns, dnsTCP, db, gone, dual, fresh, api},
		Leases: []coordinationv1.Lease{
			nodeLease("n1", time.Second, "52:54:00:00:00:01"),
			nodeLease("n2", time.Second, "52:54:00:00:00:02,52:54:00:00:00:22"),
			nodeLease("n3", 10*time.Minute, "52:54:00:00:00:03"),
			vipLease("vip-192.0.2.10", "n2", 5*time.Minute, 2, nil),
			vipLease("vip-192.0.2.11", "n1", time.Hour, 0, nil),
			vipLease("vip-192.0.2.12", "", 3*time.Minute, 1, map[string]string{election.AnnotationReleasedBy: "n1"}),
			vipLease("vip-192.0.2.13", "n3", 2*time.Hour, 0, nil),
			vipLease("vip-192.0.2.15", "", time.Minute, 4, map[string]string{election.AnnotationReleasedBy: "n2"}),
		},
		Events: []corev1.Event{
			ev(speaker.EventReleased, corev1.EventTypeNormal, "web", "n1", "node n1 stopped announcing 192.0.2.10: shutdown: the speaker is shutting down; another node takes over", 5*time.Minute),
			ev(speaker.EventAnnouncing, corev1.EventTypeNormal, "web", "n1", "announcing 192.0.2.10 from node n1 on eth9", 50*time.Minute),
			ev(speaker.EventAnnouncing, corev1.EventTypeNormal, "web", "n2", "announcing 192.0.2.10 from node n2 on eth0, eth1", 5*time.Minute),
			ev(speaker.EventReleased, corev1.EventTypeNormal, "db", "n1", "node n1 stopped announcing 192.0.2.12: noLocalEndpoint: no ready endpoint", 3*time.Minute),
			ev(speaker.EventReleased, corev1.EventTypeNormal, "db", "n2", "node n2 stopped announcing 192.0.2.12: takenOver: node n1 holds its lease now", 30*time.Minute),
			ev(speaker.EventReleased, corev1.EventTypeNormal, "web", "n2", "node n2 stopped announcing 192.0.2.10: takenOver: node n1 holds its lease now", 40*time.Minute),
			ev(speaker.EventAnnouncing, corev1.EventTypeNormal, "web", "n2", "announcing 192.0.2.10 from node n2 on eth5", 2*time.Hour),
			ev(speaker.EventAnnouncing, corev1.EventTypeNormal, "dns", "n2", "announcing 192.0.2.11 from node n2 on eth7", 2*time.Hour),
			ev(speaker.EventReleased, corev1.EventTypeNormal, "api", "n1", "node n1 stopped announcing 192.0.2.15: shutdown: the speaker is shutting down", 30*time.Minute),
			ev("Scheduled", corev1.EventTypeNormal, "web", "n2", "not ours", time.Minute),
		},
	}
}

func TestBuild(t *testing.T) {
	r := Build(cluster(), Options{})
	byLease := map[string]Group{}
	for _, g := range r.Groups {
		byLease[g.Lease] = g
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"groups", len(r.Groups), 6},
		{"shared IP: one group, two Services", strings.Join(byLease["vip-192.0.2.11"].Services, " "), "default/dns default/dns-tcp"},
		{"pool of each IP", strings.Join(byLease["vip-192.0.2.14"].Pools, " "), "lan lan"},
		{"dual-stack IPs", strings.Join(byLease["vip-192.0.2.14"].IPs, " "), "192.0.2.14 2001:db8::14"},
		{"announced", byLease["vip-192.0.2.10"].State, StateAnnounced},
		{"holder", byLease["vip-192.0.2.10"].Holder, "n2"},
		{"interface names from the holder's Announcing Event, not the predecessor's", strings.Join(byLease["vip-192.0.2.10"].Interfaces.Names, " "), "eth0 eth1"},
		{"holder's MACs from its node lease", strings.Join(byLease["vip-192.0.2.10"].Interfaces.MACs, " "), "52:54:00:00:00:02 52:54:00:00:00:22"},
		{"since = acquireTime", byLease["vip-192.0.2.10"].Since.Equal(now.Add(-5 * time.Minute)), true},
		{"transitions", byLease["vip-192.0.2.10"].Transitions, int32(2)},
		{"last handover from", byLease["vip-192.0.2.10"].LastHandover.From, "n1"},
		{"last handover reason parsed from Released", byLease["vip-192.0.2.10"].LastHandover.Reason, "shutdown"},
		{"announced: no node reasons", len(byLease["vip-192.0.2.10"].Nodes), 0},
		{"no handover recorded, none ever", byLease["vip-192.0.2.11"].LastHandover == nil, true},
		{"another node's Announcing Event says nothing of the holder's interfaces", byLease["vip-192.0.2.11"].Interfaces.Event, ""},
		{"released by a node whose Released Event is gone: not an older node's Event", byLease["vip-192.0.2.15"].LastHandover.From, "n2"},
		{"released by a node whose Released Event is gone: reason unknown", byLease["vip-192.0.2.15"].LastHandover.Reason, ReasonUnknown},
		{"released", byLease["vip-192.0.2.12"].State, StateReleased},
		{"released: the releaser's Event, not an older one", byLease["vip-192.0.2.12"].LastHandover.Reason, "noLocalEndpoint"},
		{"released: every node's decision", len(byLease["vip-192.0.2.12"].Nodes), 3},
		{"the speakers' own reason for an excluded node", byLease["vip-192.0.2.12"].Nodes[0].Reason, string(speaker.ReasonNodeExcluded)},
		{"the speakers' own reason for Local without endpoints", byLease["vip-192.0.2.12"].Nodes[1].Reason, string(speaker.ReasonNoLocalEndpoint)},
		{"holder with a stale node lease", byLease["vip-192.0.2.13"].State, StateStale},
		{"stale: node reasons given", len(byLease["vip-192.0.2.13"].Nodes), 3},
		{"unclaimed", byLease["vip-192.0.2.14"].State, StateUnclaimed},
		{"unclaimed: n1 may", byLease["vip-192.0.2.14"].Nodes[1].Candidate, true},
		{"pending Service", len(r.Pending) == 1 && r.Pending[0].Service == "default/fresh" && r.Pending[0].Reason == "noIP", true},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

// TestBuildFollowsSpeakerFlags: with the speakers' --ignore-exclude-label
// the excluded node is a candidate, as the speakers see it.
func TestBuildFollowsSpeakerFlags(t *testing.T) {
	s := cluster()
	s.Speaker = &appsv1.DaemonSet{}
	s.Speaker.Spec.Template.Spec.Containers = []corev1.Container{{Name: "speaker", Args: []string{"speaker", "--ignore-exclude-label"}}}
	for _, g := range Build(s, Options{Service: "default/dual"}).Groups {
		if d := g.Nodes[0]; d.Node != "cp" || !d.Candidate {
			t.Errorf("cp with --ignore-exclude-label: %+v", d)
		}
	}
}

func TestBuildFilter(t *testing.T) {
	tests := []struct {
		filter string
		want   []string // leases
	}{
		{"", []string{"vip-192.0.2.10", "vip-192.0.2.11", "vip-192.0.2.12", "vip-192.0.2.13", "vip-192.0.2.14", "vip-192.0.2.15"}},
		{"default/web", []string{"vip-192.0.2.10"}},
		{"dns-tcp", []string{"vip-192.0.2.11"}},
		{"other/web", nil},
		{"nope", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, g := range Build(cluster(), Options{Service: tt.filter}).Groups {
			got = append(got, g.Lease)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("filter %q: got %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestReleasedReason(t *testing.T) {
	tests := map[string]string{
		"node n1 stopped announcing 192.0.2.10: shutdown: the speaker is shutting down":            "shutdown",
		"node n1 stopped announcing 192.0.2.10, 2001:db8::10: fenced: node n2 was seen announcing": "fenced",
		"node n1 stopped announcing 2001:db8::10: leaseLost":                                       "leaseLost",
		"something else": ReasonUnknown,
		"node n1 stopped announcing 192.0.2.10 for a while":  ReasonUnknown,
		"node n1 stopped announcing 192.0.2.10: it was late": ReasonUnknown,
	}
	for msg, want := range tests {
		if got := releasedReason(msg); got != want {
			t.Errorf("%q: got %q, want %q", msg, got, want)
		}
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, Build(cluster(), Options{}), Table); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Logf("\n%s", out)
	for _, want := range []string{
		"SERVICE          IPS                      POOL  HOLDER      INTERFACES             SINCE  LAST HANDOVER\n",
		"default/web      192.0.2.10               lan   n2          eth0,eth1              5m     from n1 shutdown 5m ago\n",
		"default/dns-tcp  192.0.2.11               lan   n1          mac 52:54:00:00:00:01  60m    -\n",
		"default/db       192.0.2.12               lan   <none>      -                      -      from n1 noLocalEndpoint 3m ago\n",
		"default/gone     192.0.2.13               lan   n3 (stale)",
		"default/fresh    <pending>                -     -           -                      -      no IP yet (noIP)",
		"192.0.2.12 (default/db): no holder; each node's answer (the speakers' own decision):",
		"  cp  nodeExcluded",
		"  n1  noLocalEndpoint",
		"192.0.2.14,2001:db8::14 (default/dual): no holder",
		"  n1  candidate     may announce it",
		"remove it to let the node announce", // messages are not cut short: they name the fix
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	b.Reset()
	if err := Write(&b, Build(cluster(), Options{Service: "web"}), Wide); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
	for _, want := range []string{"MACS", "52:54:00:00:00:02,52:54:00:00:00:22", "vip-192.0.2.10", "announced", "shutdown 5m ago: node n1 stopped announcing"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("wide table lacks %q", want)
		}
	}
}

// TestStructured: -o json and -o yaml are the documented field names.
func TestStructured(t *testing.T) {
	r := Build(cluster(), Options{Service: "default/web"})
	for _, f := range []Format{JSON, YAML} {
		var b bytes.Buffer
		if err := Write(&b, r, f); err != nil {
			t.Fatal(err)
		}
		js := b.Bytes()
		if f == YAML {
			var err error
			if js, err = yaml.YAMLToJSON(js); err != nil {
				t.Fatal(err)
			}
		}
		var doc struct {
			Namespace string `json:"namespace"`
			Groups    []struct {
				Lease      string   `json:"lease"`
				Services   []string `json:"services"`
				State      string   `json:"state"`
				Holder     string   `json:"holder"`
				Interfaces struct {
					Names []string `json:"names"`
					MACs  []string `json:"macs"`
				} `json:"interfaces"`
				Since        time.Time `json:"since"`
				LastHandover struct {
					From   string `json:"from"`
					Reason string `json:"reason"`
				} `json:"lastHandover"`
			} `json:"groups"`
		}
		if err := json.Unmarshal(js, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Groups) != 1 {
			t.Fatalf("%s: %s", f, js)
		}
		g := doc.Groups[0]
		if doc.Namespace != ns || g.Lease != "vip-192.0.2.10" || g.State != "announced" || g.Holder != "n2" || len(g.Interfaces.Names) != 2 ||
			len(g.Interfaces.MACs) != 2 || !g.Since.Equal(now.Add(-5*time.Minute)) || g.LastHandover.From != "n1" || g.LastHandover.Reason != "shutdown" {
			t.Errorf("%s: %s", f, js)
		}
	}
}
