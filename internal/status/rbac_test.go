package status

import (
	"bytes"
	"os"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// needs are the reads a Source makes: its informers list and watch, and it
// gets the speaker DaemonSet once.
var needs = []struct{ group, resource, verb string }{
	{"", "nodes", "list"}, {"", "nodes", "watch"},
	{"", "services", "list"}, {"", "services", "watch"},
	{"", "events", "list"}, {"", "events", "watch"},
	{"discovery.k8s.io", "endpointslices", "list"}, {"discovery.k8s.io", "endpointslices", "watch"},
	{"coordination.k8s.io", "leases", "list"}, {"coordination.k8s.io", "leases", "watch"},
	{"leaselb.io", "ipaddresspools", "list"}, {"leaselb.io", "ipaddresspools", "watch"},
	{"leaselb.io", "l2advertisements", "list"}, {"leaselb.io", "l2advertisements", "watch"},
	{"apps", "daemonsets", "get"},
}

// TestDoctorRBACGrantsStatus: the read-only ClusterRole in
// manifests/examples/doctor-rbac.yaml grants every read status makes, and
// nothing but reads.
func TestDoctorRBACGrantsStatus(t *testing.T) {
	raw, err := os.ReadFile("../../manifests/examples/doctor-rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.ClusterRole
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var r rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == "ClusterRole" && r.Name == "leaselb:doctor" {
			role = &r
		}
	}
	if role == nil {
		t.Fatal("no ClusterRole leaselb:doctor")
	}
	for _, rule := range role.Rules {
		for _, v := range rule.Verbs {
			if !slices.Contains([]string{"get", "list", "watch"}, v) {
				t.Errorf("rule %v grants %q: doctor and status only read", rule, v)
			}
		}
	}
	for _, n := range needs {
		ok := false
		for _, rule := range role.Rules {
			ok = ok || slices.Contains(rule.APIGroups, n.group) && slices.Contains(rule.Resources, n.resource) && slices.Contains(rule.Verbs, n.verb) && len(rule.ResourceNames) == 0
		}
		if !ok {
			t.Errorf("leaselb:doctor does not grant %s %s (group %q), which status needs", n.verb, n.resource, n.group)
		}
	}
}
