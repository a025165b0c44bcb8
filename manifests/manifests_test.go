package manifests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/leaselb/leaselb/internal/metricsdoc"
)

// object is one document of a YAML stream, kept raw so each test decodes
// it strictly into the type it expects.
type object struct {
	Kind      string
	Name      string
	Namespace string
	APIGroup  string
	raw       []byte
}

func readObjects(t *testing.T, path string) []object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if head.Kind == "" {
			continue // a comment-only document (the bundle's header)
		}
		group, _, _ := strings.Cut(head.APIVersion, "/")
		if !strings.Contains(head.APIVersion, "/") {
			group = ""
		}
		out = append(out, object{Kind: head.Kind, Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, APIGroup: group, raw: doc})
	}
	return out
}

func find(t *testing.T, objs []object, kind, name string) object {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	t.Fatalf("bundle has no %s %q", kind, name)
	return object{}
}

// decode unmarshals strictly, so a misspelt field in a manifest fails here
// and not as a silently ignored field in a cluster.
func decode(t *testing.T, o object, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(o.raw, into); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Name, err)
	}
}

func bundle(t *testing.T) []object { return readObjects(t, "leaselb.yaml") }

// TestBundleCRDsMatchGenerated holds the bundle's CRDs to manifests/crds,
// which `make generate` writes from api/v1alpha1: a stale bundle would
// install an old schema.
func TestBundleCRDsMatchGenerated(t *testing.T) {
	var inBundle []object
	for _, o := range bundle(t) {
		if o.Kind == "CustomResourceDefinition" {
			inBundle = append(inBundle, o)
		}
	}
	files, err := filepath.Glob("crds/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no generated CRDs in crds/ (%v): run make generate", err)
	}
	if len(inBundle) != len(files) {
		t.Fatalf("bundle has %d CRDs, crds/ has %d: run make manifests", len(inBundle), len(files))
	}
	for _, f := range files {
		gen := readObjects(t, f)
		if len(gen) != 1 {
			t.Fatalf("%s: want one object, got %d", f, len(gen))
		}
		var want, got map[string]any
		decode(t, gen[0], &want)
		decode(t, find(t, inBundle, "CustomResourceDefinition", gen[0].Name), &got)
		if !reflect.DeepEqual(want, got) {
			t.Errorf("CRD %s in leaselb.yaml differs from %s: run make manifests", gen[0].Name, f)
		}
	}
}

// rulesOf returns every rule granted to a ServiceAccount through the
// bundle's bindings, with the binding's scope ("" for cluster-wide).
func rulesOf(t *testing.T, objs []object, sa string) map[string][]rbacv1.PolicyRule {
	t.Helper()
	out := map[string][]rbacv1.PolicyRule{}
	for _, o := range objs {
		var subjects []rbacv1.Subject
		var ref rbacv1.RoleRef
		scope := ""
		switch o.Kind {
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			decode(t, o, &b)
			subjects, ref = b.Subjects, b.RoleRef
		case "RoleBinding":
			var b rbacv1.RoleBinding
			decode(t, o, &b)
			subjects, ref, scope = b.Subjects, b.RoleRef, b.Namespace
		default:
			continue
		}
		if !slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == "leaselb-system"
		}) {
			continue
		}
		var rules []rbacv1.PolicyRule
		if ref.Kind == "ClusterRole" {
			var r rbacv1.ClusterRole
			decode(t, find(t, objs, "ClusterRole", ref.Name), &r)
			rules = r.Rules
		} else {
			var r rbacv1.Role
			decode(t, find(t, objs, "Role", ref.Name), &r)
			if r.Namespace != scope {
				t.Errorf("RoleBinding in %q refers to Role in %q", scope, r.Namespace)
			}
			rules = r.Rules
		}
		out[scope] = append(out[scope], rules...)
	}
	return out
}

// grant is one (scope, group, resource, verb, resourceNames) permission.
type grant struct {
	scope, group, resource, verb, names string
}

func grants(rules map[string][]rbacv1.PolicyRule) []grant {
	var out []grant
	for scope, rs := range rules {
		for _, r := range rs {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						out = append(out, grant{scope, g, res, v, strings.Join(r.ResourceNames, ",")})
					}
				}
			}
		}
	}
	sortGrants(out)
	return out
}

func sortGrants(gs []grant) {
	key := func(g grant) string { return g.scope + "|" + g.group + "|" + g.resource + "|" + g.verb + "|" + g.names }
	slices.SortFunc(gs, func(a, b grant) int { return strings.Compare(key(a), key(b)) })
}

func expand(scope, group, resource, names string, verbs ...string) []grant {
	var out []grant
	for _, v := range verbs {
		out = append(out, grant{scope, group, resource, v, names})
	}
	return out
}

// TestRBACIsExactlyWhatTheDaemonsNeed pins every permission of both
// ServiceAccounts, so widening one is a deliberate edit of this table (and
// of the justification next to the rule).
func TestRBACIsExactlyWhatTheDaemonsNeed(t *testing.T) {
	const ns = "leaselb-system"
	read := []string{"get", "list", "watch"}
	tests := []struct {
		sa   string
		want [][]grant
	}{
		{"speaker", [][]grant{
			expand("", "", "services", "", read...),
			expand("", "", "nodes", "", read...),
			expand("", "discovery.k8s.io", "endpointslices", "", read...),
			expand("", "", "events", "", "create", "patch"),
			expand(ns, "leaselb.io", "ipaddresspools", "", read...),
			expand(ns, "leaselb.io", "l2advertisements", "", read...),
			expand(ns, "coordination.k8s.io", "leases", "", "get", "list", "watch", "create", "update", "delete"),
		}},
		{"controller", [][]grant{
			expand("", "", "services", "", read...),
			expand("", "", "services/status", "", "update", "patch"),
			expand("", "", "namespaces", "", read...),
			expand("", "", "events", "", "create", "patch"),
			expand(ns, "leaselb.io", "ipaddresspools", "", read...),
			expand(ns, "leaselb.io", "l2advertisements", "", read...),
			expand(ns, "leaselb.io", "ipaddresspools/status", "", "update", "patch"),
			expand(ns, "leaselb.io", "l2advertisements/status", "", "update", "patch"),
			expand(ns, "coordination.k8s.io", "leases", "leaselb-controller", "get", "list", "watch", "update"),
			expand(ns, "coordination.k8s.io", "leases", "", "create"),
		}},
	}
	objs := bundle(t)
	for _, tt := range tests {
		t.Run(tt.sa, func(t *testing.T) {
			got := grants(rulesOf(t, objs, tt.sa))
			var want []grant
			for _, w := range tt.want {
				want = append(want, w...)
			}
			sortGrants(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ServiceAccount %s:\n got  %v\n want %v", tt.sa, got, want)
			}
			for _, g := range got {
				if g.resource == "*" || g.verb == "*" || g.group == "*" {
					t.Errorf("wildcard grant %+v", g)
				}
				if g.resource == "secrets" || g.resource == "configmaps" || g.resource == "pods" {
					t.Errorf("%s may %s %s: the daemons never need it", tt.sa, g.verb, g.resource)
				}
			}
		})
	}
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

func envFrom(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

func probePort(p *corev1.Probe, c corev1.Container) int32 {
	if p == nil || p.HTTPGet == nil {
		return 0
	}
	if p.HTTPGet.Port.IntVal != 0 {
		return p.HTTPGet.Port.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.HTTPGet.Port.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

// TestController holds the controller's Deployment to the install promises.
func TestController(t *testing.T) {
	objs := bundle(t)
	var d appsv1.Deployment
	decode(t, find(t, objs, "Deployment", "controller"), &d)
	spec := d.Spec.Template.Spec
	c := container(t, spec, "controller")
	checks := []struct {
		what string
		ok   bool
	}{
		{"namespace leaselb-system", d.Namespace == "leaselb-system"},
		{"2 replicas", d.Spec.Replicas != nil && *d.Spec.Replicas == 2},
		{"ServiceAccount controller", spec.ServiceAccountName == "controller"},
		{"args controller --leader-elect", len(c.Args) >= 2 && c.Args[0] == "controller" && slices.Contains(c.Args, "--leader-elect")},
		{"non-root pod", spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot},
		{"seccomp RuntimeDefault", spec.SecurityContext != nil && spec.SecurityContext.SeccompProfile != nil && spec.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"read-only root filesystem", c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem},
		{"no privilege escalation", c.SecurityContext != nil && c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation},
		{"drop ALL, add nothing", c.SecurityContext != nil && c.SecurityContext.Capabilities != nil && slices.Equal(c.SecurityContext.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(c.SecurityContext.Capabilities.Add) == 0},
		{"no host network", !spec.HostNetwork},
		{"POD_NAMESPACE from downward API", envFrom(c, "POD_NAMESPACE") == "metadata.namespace"},
		{"liveness /healthz on 7473", probePort(c.LivenessProbe, c) == 7473 && c.LivenessProbe.HTTPGet.Path == "/healthz"},
		{"readiness /readyz on 7473", probePort(c.ReadinessProbe, c) == 7473 && c.ReadinessProbe.HTTPGet.Path == "/readyz"},
		{"resource requests and a memory limit", c.Resources.Requests.Cpu().MilliValue() > 0 && c.Resources.Requests.Memory().Value() > 0 && c.Resources.Limits.Memory().Value() > 0},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("controller Deployment: want %s", ch.what)
		}
	}
	var pdb policyv1.PodDisruptionBudget
	decode(t, find(t, objs, "PodDisruptionBudget", "controller"), &pdb)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget controller: want minAvailable 1, got %v", pdb.Spec.MinAvailable)
	}
	if !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget selects %v, Deployment pods are %v", pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
}

// TestSpeaker holds the speaker's DaemonSet to the install promises.
func TestSpeaker(t *testing.T) {
	objs := bundle(t)
	var ds appsv1.DaemonSet
	decode(t, find(t, objs, "DaemonSet", "speaker"), &ds)
	spec := ds.Spec.Template.Spec
	c := container(t, spec, "speaker")
	sc := c.SecurityContext
	tolerates := func(key string) bool {
		return slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool {
			return tl.Key == key && tl.Operator == corev1.TolerationOpExists && tl.Effect == corev1.TaintEffectNoSchedule
		})
	}
	checks := []struct {
		what string
		ok   bool
	}{
		{"namespace leaselb-system", ds.Namespace == "leaselb-system"},
		{"ServiceAccount speaker", spec.ServiceAccountName == "speaker"},
		{"args speaker", len(c.Args) >= 1 && c.Args[0] == "speaker"},
		{"hostNetwork", spec.HostNetwork},
		{"dnsPolicy ClusterFirstWithHostNet", spec.DNSPolicy == corev1.DNSClusterFirstWithHostNet},
		{"capabilities: drop ALL, add NET_RAW only", sc != nil && sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_RAW"})},
		{"not privileged", sc != nil && (sc.Privileged == nil || !*sc.Privileged)},
		{"no privilege escalation", sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"read-only root filesystem", sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"seccomp RuntimeDefault", spec.SecurityContext != nil && spec.SecurityContext.SeccompProfile != nil && spec.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"no host paths", len(spec.Volumes) == 0},
		{"tolerates control-plane NoSchedule", tolerates("node-role.kubernetes.io/control-plane")},
		{"NODE_NAME from spec.nodeName", envFrom(c, "NODE_NAME") == "spec.nodeName"},
		{"POD_NAMESPACE from downward API", envFrom(c, "POD_NAMESPACE") == "metadata.namespace"},
		{"grace period 5-30 s to release leases", spec.TerminationGracePeriodSeconds != nil && *spec.TerminationGracePeriodSeconds >= 5 && *spec.TerminationGracePeriodSeconds <= 30},
		{"liveness /healthz on 7475", probePort(c.LivenessProbe, c) == 7475 && c.LivenessProbe.HTTPGet.Path == "/healthz"},
		{"readiness /readyz on 7475", probePort(c.ReadinessProbe, c) == 7475 && c.ReadinessProbe.HTTPGet.Path == "/readyz"},
		{"rolling update one node at a time", ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType && ds.Spec.UpdateStrategy.RollingUpdate != nil && ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable != nil && ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable.IntValue() == 1},
		{"resource requests and a memory limit", c.Resources.Requests.Cpu().MilliValue() > 0 && c.Resources.Requests.Memory().Value() > 0 && c.Resources.Limits.Memory().Value() > 0},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("speaker DaemonSet: want %s", ch.what)
		}
	}
}

// TestNamespaceAllowsTheSpeaker checks the Pod Security label: without
// "privileged", the API server refuses the speaker's pods (hostNetwork,
// NET_RAW).
func TestNamespaceAllowsTheSpeaker(t *testing.T) {
	var n corev1.Namespace
	decode(t, find(t, bundle(t), "Namespace", "leaselb-system"), &n)
	if got := n.Labels["pod-security.kubernetes.io/enforce"]; got != "privileged" {
		t.Errorf("namespace leaselb-system: pod-security.kubernetes.io/enforce = %q, want privileged", got)
	}
}

// TestBundleObjectsAreNamespacedRight: every namespaced object of the
// install lives in leaselb-system, so the install touches nothing else.
func TestBundleObjectsAreNamespacedRight(t *testing.T) {
	cluster := map[string]bool{"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true}
	for _, o := range bundle(t) {
		if cluster[o.Kind] != (o.Namespace == "") {
			t.Errorf("%s %s: namespace %q", o.Kind, o.Name, o.Namespace)
		}
		if o.Namespace != "" && o.Namespace != "leaselb-system" {
			t.Errorf("%s %s is in namespace %q, want leaselb-system", o.Kind, o.Name, o.Namespace)
		}
	}
}

// TestExamples checks the walkthrough objects: leaselb's apiVersion and
// namespace for pools and advertisements, and the Services as written in
// the walkthrough.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	var all []object
	for _, f := range files {
		all = append(all, readObjects(t, f)...)
	}
	for _, o := range all {
		if o.APIGroup == "leaselb.io" || o.APIGroup == "metallb.io" {
			var head struct {
				APIVersion string `json:"apiVersion"`
			}
			_ = yaml.Unmarshal(o.raw, &head)
			if head.APIVersion != "leaselb.io/v1alpha1" || o.Namespace != "leaselb-system" {
				t.Errorf("%s %s: %s in %q, want leaselb.io/v1alpha1 in leaselb-system", o.Kind, o.Name, head.APIVersion, o.Namespace)
			}
		}
	}
	find(t, all, "IPAddressPool", "first-pool")
	find(t, all, "L2Advertisement", "mt-network-l2")
	svc := func(name string) corev1.Service {
		var s corev1.Service
		decode(t, find(t, all, "Service", name), &s)
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			t.Errorf("Service %s: type %q, want LoadBalancer", name, s.Spec.Type)
		}
		return s
	}
	if s := svc("almighty"); s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal || len(s.Spec.Ports) != 2 {
		t.Errorf("Service almighty: want externalTrafficPolicy Local and two ports")
	}
	svc("sample-lb")
	if s := svc("sample-lb-fixip"); s.Spec.LoadBalancerIP != "192.168.219.195" {
		t.Errorf("Service sample-lb-fixip: loadBalancerIP %q, want 192.168.219.195", s.Spec.LoadBalancerIP)
	}
	if s := svc("sample-lb-fw"); len(s.Spec.LoadBalancerSourceRanges) == 0 {
		t.Errorf("Service sample-lb-fw: want loadBalancerSourceRanges")
	}
}

// TestDockerfileBuildsLikeTheMakefile: CI cannot run docker, so it builds
// the binary with the Makefile's flags; this keeps the Dockerfile's build
// stage on the same flags, so what CI tests is what the image ships.
func TestDockerfileBuildsLikeTheMakefile(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ld := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.*)$`).FindSubmatch(mk)
	if ld == nil {
		t.Fatal("Makefile: no LDFLAGS := line")
	}
	// The Makefile's $(VERSION)/$(COMMIT) are the Dockerfile's build args.
	want := strings.NewReplacer("$(VERSION)", "${VERSION}", "$(COMMIT)", "${COMMIT}").Replace(strings.TrimSpace(string(ld[1])))
	for _, s := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags \"" + want + "\"", "./cmd/leaselb"} {
		if !bytes.Contains(df, []byte(s)) {
			t.Errorf("Dockerfile build stage lacks %q (the Makefile builds with it)", s)
		}
	}
}

// imagetoolConsts reads the untyped string constants of
// hack/tools/imagetool/spec.go, the one place that says where the binary
// goes and which user runs it. It parses the file instead of importing it:
// the tools module is not a dependency of this one.
func imagetoolConsts(t *testing.T) map[string]string {
	t.Helper()
	const file = "../hack/tools/imagetool/spec.go"
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatalf("%s: %s: %v", file, n.Name, err)
					}
					out[n.Name] = v
				}
			}
		}
	}
	for _, n := range []string{"BinDir", "User"} {
		if out[n] == "" {
			t.Fatalf("%s: no string constant %s", file, n)
		}
	}
	return out
}

// TestDockerfileImageLikeImagetool: the Dockerfile's final stage must
// produce the image `make image` builds: nothing but the binary, at the
// path imagetool puts it, with its user and entrypoint. Docker users and
// the manifests then run the same thing.
func TestDockerfileImageLikeImagetool(t *testing.T) {
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	c := imagetoolConsts(t)
	bin := c["BinDir"] + "/leaselb"
	// The final stage: from its FROM to the end.
	froms := regexp.MustCompile(`(?m)^FROM\s+(.*)$`).FindAllSubmatchIndex(df, -1)
	if len(froms) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	last := froms[len(froms)-1]
	final := string(df[last[0]:])
	instr := func(name string) []string { // the arguments of each `name` instruction of the final stage
		var out []string
		for _, m := range regexp.MustCompile(`(?m)^`+name+`\s+(.*)$`).FindAllStringSubmatch(final, -1) {
			out = append(out, strings.TrimSpace(m[1]))
		}
		return out
	}
	var entrypoint []string
	if e := instr("ENTRYPOINT"); len(e) == 1 {
		if err := json.Unmarshal([]byte(e[0]), &entrypoint); err != nil {
			t.Errorf("Dockerfile: ENTRYPOINT %s: want the exec form [\"...\"] (%v)", e[0], err)
		}
	}
	copyDest := ""
	if cp := instr("COPY"); len(cp) == 1 {
		f := strings.Fields(cp[0])
		copyDest = f[len(f)-1]
	}
	makefileBinary := regexp.MustCompile(`--binary \$\(p\)=\$\(2\)/\$\(subst /,_,\$\(p\)\)/([A-Za-z0-9_.-]+)`).FindSubmatch(mk)
	tests := []struct {
		what      string
		got, want any
	}{
		{what: "final stage base (FROM)", got: strings.TrimSpace(string(df[last[2]:last[3]])), want: "scratch"},
		{what: "COPY instructions in the final stage", got: len(instr("COPY")), want: 1},
		{what: "COPY destination", got: copyDest, want: bin},
		{what: "USER", got: instr("USER"), want: []string{c["User"]}},
		{what: "ENTRYPOINT", got: entrypoint, want: []string{bin}},
		{what: "no RUN, ADD, ENV or CMD in the final stage", got: len(instr("RUN")) + len(instr("ADD")) + len(instr("ENV")) + len(instr("CMD")), want: 0},
		{what: "the binary the Makefile gives imagetool", got: func() string {
			if makefileBinary == nil {
				return "(no --binary $(p)=$(2)/$(subst /,_,$(p))/... in build-image)"
			}
			return string(makefileBinary[1])
		}(), want: "leaselb"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("Dockerfile/Makefile %s: %v, want %v (hack/tools/imagetool/spec.go writes that for make image; keep the two alike)", tt.what, tt.got, tt.want)
		}
	}
}

// TestAlerts checks the sample rule file: well-formed groups of alerting
// rules, and every metric an expression uses is one docs/metrics.md
// documents (and so one the code registers).
func TestAlerts(t *testing.T) {
	data, err := os.ReadFile("prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(data, &file); err != nil {
		t.Fatalf("prometheus/alerts.yaml: %v", err)
	}
	f, err := os.Open("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := metricsdoc.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`leaselb_[a-z0-9_]+`)
	alerts := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q: want alert, expr, a severity label and a summary", r.Alert)
			}
			for _, m := range metric.FindAllString(r.Expr, -1) {
				if _, ok := doc[m]; !ok {
					t.Errorf("alert %s uses %s, which docs/metrics.md does not document", r.Alert, m)
				}
			}
		}
	}
	for _, want := range []string{"LeaselbVIPWithoutHolder", "LeaselbIPConflict"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}
