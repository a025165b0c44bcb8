package chartcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

var (
	chartDir  = filepath.Join("..", "..", "..", "charts", "leaselb")
	manifests = filepath.Join("..", "..", "..", "manifests")
)

// keepAnnotation is the one thing the chart adds to manifests/ at default
// values: Helm would delete the CRDs (and every pool with them) on
// `helm uninstall` without it; kubectl ignores it.
const keepAnnotation = "helm.sh/resource-policy"

// objects splits a YAML stream into objects keyed by kind/namespace/name.
func objects(t *testing.T, stream []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]any
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		if o == nil {
			continue // comments only
		}
		md, _ := o["metadata"].(map[string]any)
		k := fmt.Sprintf("%s %v/%v", o["kind"], md["namespace"], md["name"])
		if _, dup := out[k]; dup {
			t.Fatalf("%s appears twice", k)
		}
		out[k] = o
	}
}

func render(t *testing.T, sets ...string) (map[string]map[string]any, error) {
	t.Helper()
	ch, err := Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := ParseSets(sets)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(ch, Namespace, vals)
	if err != nil {
		return nil, err
	}
	return objects(t, []byte(out)), nil
}

func mustRender(t *testing.T, sets ...string) map[string]map[string]any {
	t.Helper()
	objs, err := render(t, sets...)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func kustomized(t *testing.T) map[string]map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifests, "leaselb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return objects(t, data)
}

// diffSets reports how two object sets differ, object by object.
func diffSets(t *testing.T, chart, kust map[string]map[string]any) {
	t.Helper()
	var keys []string
	for k := range chart {
		keys = append(keys, k)
	}
	for k := range kust {
		if _, ok := chart[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		c, inChart := chart[k]
		m, inKust := kust[k]
		switch {
		case !inChart:
			t.Errorf("%s is in manifests/leaselb.yaml but not in the chart's rendering", k)
		case !inKust:
			t.Errorf("%s is in the chart's rendering but not in manifests/leaselb.yaml", k)
		case !reflect.DeepEqual(c, m):
			cy, _ := yaml.Marshal(c)
			my, _ := yaml.Marshal(m)
			t.Errorf("%s differs between the chart and manifests/leaselb.yaml; change charts/leaselb/templates together with manifests/:\nchart:\n%s\nmanifests:\n%s", k, cy, my)
		}
	}
}

// TestDefaultsEqualManifests is the "one source" rule: the chart at default
// values renders exactly the objects of manifests/leaselb.yaml, except the
// Namespace (Helm creates the release namespace; namespace.create=true
// renders it, see TestNamespaceCreate) and the keep annotation on the CRDs.
func TestDefaultsEqualManifests(t *testing.T) {
	chart := mustRender(t)
	kust := kustomized(t)
	delete(kust, "Namespace <nil>/"+Namespace)
	for k, o := range chart {
		if o["kind"] != "CustomResourceDefinition" {
			continue
		}
		md := o["metadata"].(map[string]any)
		ann, _ := md["annotations"].(map[string]any)
		if ann[keepAnnotation] != "keep" {
			t.Errorf("%s: want annotation %s: keep at default values (crds.keep)", k, keepAnnotation)
		}
		delete(ann, keepAnnotation)
	}
	diffSets(t, chart, kust)
}

func TestNamespaceCreate(t *testing.T) {
	chart := mustRender(t, "namespace.create=true", "crds.keep=false")
	diffSets(t, chart, kustomized(t))
}

// TestCopiesMatchSources: the chart cannot read outside its directory, so
// `make manifests` copies the CRDs and the alerts into charts/leaselb/files.
func TestCopiesMatchSources(t *testing.T) {
	for copyPath, src := range map[string]string{
		"files/crds/leaselb.io_ipaddresspools.yaml":   "crds/leaselb.io_ipaddresspools.yaml",
		"files/crds/leaselb.io_l2advertisements.yaml": "crds/leaselb.io_l2advertisements.yaml",
		"files/alerts.yaml":                           "prometheus/alerts.yaml",
	} {
		got, err := os.ReadFile(filepath.Join(chartDir, copyPath))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(manifests, src))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/leaselb/%s differs from manifests/%s: run 'make manifests' and commit the result", copyPath, src)
		}
	}
	entries, err := os.ReadDir(filepath.Join(chartDir, "files", "crds"))
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := os.ReadDir(filepath.Join(manifests, "crds"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(srcs) {
		t.Errorf("charts/leaselb/files/crds has %d files, manifests/crds %d: run 'make manifests'", len(entries), len(srcs))
	}
}

func workload(t *testing.T, objs map[string]map[string]any, kind, name string) corev1.PodSpec {
	t.Helper()
	o, ok := objs[fmt.Sprintf("%s %s/%s", kind, Namespace, name)]
	if !ok {
		t.Fatalf("no %s %s rendered", kind, name)
	}
	data, _ := yaml.Marshal(o)
	switch kind {
	case "Deployment":
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(data, &d); err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec
	default:
		var d appsv1.DaemonSet
		if err := yaml.UnmarshalStrict(data, &d); err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec
	}
}

func controllerPod(t *testing.T, objs map[string]map[string]any) corev1.PodSpec {
	return workload(t, objs, "Deployment", "controller")
}

func speakerPod(t *testing.T, objs map[string]map[string]any) corev1.PodSpec {
	return workload(t, objs, "DaemonSet", "speaker")
}

func kinds(objs map[string]map[string]any, kind string) []string {
	var out []string
	for k, o := range objs {
		if o["kind"] == kind {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestValues checks that non-default values render as documented.
func TestValues(t *testing.T) {
	tests := []struct {
		name    string
		sets    []string
		wantErr string // substring; "" = renders
		check   func(t *testing.T, objs map[string]map[string]any)
	}{
		{
			name: "digest pins the image", sets: []string{"image.digest=" + digest},
			check: func(t *testing.T, objs map[string]map[string]any) {
				want := "ghcr.io/leaselb/leaselb@" + digest
				for _, p := range []corev1.PodSpec{controllerPod(t, objs), speakerPod(t, objs)} {
					if got := p.Containers[0].Image; got != want {
						t.Errorf("image %q, want %q", got, want)
					}
				}
			},
		},
		{
			name: "a digest without sha256: is refused", sets: []string{"image.digest=0123abc"},
			wantErr: "sha256:",
		},
		{
			name: "a misspelt value is refused, not ignored", sets: []string{"speaker.ignoreExcludeLabels=true"},
			wantErr: "ignoreExcludeLabels",
		},
		{
			name: "a value of the wrong type is refused", sets: []string{"speaker.metricsPort=metrics"},
			wantErr: "metricsPort",
		},
		{
			name: "a timing that is not a duration is refused", sets: []string{"speaker.nodeLeaseDuration=2"},
			wantErr: "nodeLeaseDuration",
		},
		{
			name: "repository, tag and pull policy", sets: []string{"image.repository=registry.example/leaselb", "image.tag=v9.9.9", "image.pullPolicy=Always"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				for _, p := range []corev1.PodSpec{controllerPod(t, objs), speakerPod(t, objs)} {
					if c := p.Containers[0]; c.Image != "registry.example/leaselb:v9.9.9" || c.ImagePullPolicy != corev1.PullAlways {
						t.Errorf("image %q pull %q", c.Image, c.ImagePullPolicy)
					}
				}
			},
		},
		{
			name: "ignoreExcludeLabel adds the speaker flag", sets: []string{"speaker.ignoreExcludeLabel=true"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				if args := speakerPod(t, objs).Containers[0].Args; !slices.Contains(args, "--ignore-exclude-label") {
					t.Errorf("speaker args %q lack --ignore-exclude-label", args)
				}
				if args := controllerPod(t, objs).Containers[0].Args; slices.Contains(args, "--ignore-exclude-label") {
					t.Errorf("controller args %q have the speaker's flag", args)
				}
			},
		},
		{
			name: "requireClass reaches both daemons", sets: []string{"loadBalancerClass.requireClass=true"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				for _, p := range []corev1.PodSpec{controllerPod(t, objs), speakerPod(t, objs)} {
					if !slices.Contains(p.Containers[0].Args, "--require-class") {
						t.Errorf("args %q lack --require-class", p.Containers[0].Args)
					}
				}
			},
		},
		{
			name: "speaker timings and log level",
			sets: []string{"speaker.nodeLeaseRenew=400ms", "speaker.nodeLeaseDuration=1500ms", "speaker.idleRenew=20s",
				"speaker.rankStep=100ms", "speaker.refreshInterval=0s", "logLevel=debug"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				args := speakerPod(t, objs).Containers[0].Args
				for _, want := range []string{"--node-lease-renew=400ms", "--node-lease-duration=1500ms", "--idle-renew=20s",
					"--rank-step=100ms", "--refresh-interval=0s", "--log-level=debug"} {
					if !slices.Contains(args, want) {
						t.Errorf("speaker args %q lack %s", args, want)
					}
				}
				if args := controllerPod(t, objs).Containers[0].Args; !slices.Contains(args, "--log-level=debug") {
					t.Errorf("controller args %q lack --log-level=debug", args)
				}
			},
		},
		{
			name: "metrics port moves flag, container port and scrape annotation", sets: []string{"speaker.metricsPort=9474"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				p := speakerPod(t, objs)
				if !slices.Contains(p.Containers[0].Args, "--metrics-bind-address=:9474") || p.Containers[0].Ports[0].ContainerPort != 9474 {
					t.Errorf("args %q ports %v", p.Containers[0].Args, p.Containers[0].Ports)
				}
				tmpl := objs["DaemonSet "+Namespace+"/speaker"]["spec"].(map[string]any)["template"].(map[string]any)
				if got := tmpl["metadata"].(map[string]any)["annotations"].(map[string]any)["prometheus.io/port"]; got != "9474" {
					t.Errorf("prometheus.io/port %v", got)
				}
			},
		},
		{
			name: "scheduling values", sets: []string{"speaker.tolerations=null", "speaker.priorityClassName=", "controller.priorityClassName=high",
				"controller.nodeSelector.disk=ssd", "speaker.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=lan",
				"speaker.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				s, c := speakerPod(t, objs), controllerPod(t, objs)
				if len(s.Tolerations) != 0 || s.PriorityClassName != "" || s.Affinity == nil || s.Affinity.NodeAffinity == nil {
					t.Errorf("speaker tolerations %v priority %q affinity %v", s.Tolerations, s.PriorityClassName, s.Affinity)
				}
				if c.PriorityClassName != "high" || c.NodeSelector["disk"] != "ssd" || c.NodeSelector["kubernetes.io/os"] != "linux" {
					t.Errorf("controller priority %q nodeSelector %v", c.PriorityClassName, c.NodeSelector)
				}
			},
		},
		{
			name: "resources", sets: []string{"speaker.resources.limits.memory=1Gi"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				if got := speakerPod(t, objs).Containers[0].Resources.Limits.Memory().String(); got != "1Gi" {
					t.Errorf("speaker memory limit %s", got)
				}
			},
		},
		{
			name: "no monitoring objects by default",
			check: func(t *testing.T, objs map[string]map[string]any) {
				for _, k := range []string{"PodMonitor", "ServiceMonitor", "PrometheusRule", "Service"} {
					if got := kinds(objs, k); len(got) > 0 {
						t.Errorf("%s rendered: %v", k, got)
					}
				}
			},
		},
		{
			name: "podMonitor", sets: []string{"prometheus.podMonitor.enabled=true", "prometheus.podMonitor.labels.release=kps"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				got := kinds(objs, "PodMonitor")
				if want := []string{"PodMonitor leaselb-system/controller", "PodMonitor leaselb-system/speaker"}; !reflect.DeepEqual(got, want) {
					t.Fatalf("PodMonitors %v, want %v", got, want)
				}
				md := objs[got[0]]["metadata"].(map[string]any)
				if md["labels"].(map[string]any)["release"] != "kps" {
					t.Errorf("labels %v lack release=kps", md["labels"])
				}
			},
		},
		{
			name: "serviceMonitor brings its Services", sets: []string{"prometheus.serviceMonitor.enabled=true", "prometheus.serviceMonitor.interval=15s"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				if got := kinds(objs, "ServiceMonitor"); len(got) != 2 {
					t.Errorf("ServiceMonitors %v, want controller and speaker", got)
				}
				if got := kinds(objs, "Service"); !reflect.DeepEqual(got, []string{"Service leaselb-system/controller-metrics", "Service leaselb-system/speaker-metrics"}) {
					t.Errorf("Services %v", got)
				}
				ep := objs["ServiceMonitor leaselb-system/speaker"]["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any)
				if ep["interval"] != "15s" || ep["port"] != "metrics" {
					t.Errorf("endpoint %v", ep)
				}
			},
		},
		{
			name: "prometheusRule carries manifests/prometheus/alerts.yaml", sets: []string{"prometheus.prometheusRule.enabled=true"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				r, ok := objs["PrometheusRule leaselb-system/leaselb"]
				if !ok {
					t.Fatalf("no PrometheusRule; got %v", kinds(objs, "PrometheusRule"))
				}
				data, err := os.ReadFile(filepath.Join(manifests, "prometheus", "alerts.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				var want map[string]any
				if err := yaml.Unmarshal(data, &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(r["spec"], want) {
					t.Errorf("PrometheusRule spec differs from alerts.yaml")
				}
			},
		},
		{
			name: "crds.enabled=false leaves the CRDs out", sets: []string{"crds.enabled=false"},
			check: func(t *testing.T, objs map[string]map[string]any) {
				if got := kinds(objs, "CustomResourceDefinition"); len(got) > 0 {
					t.Errorf("CRDs rendered: %v", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := render(t, tt.sets...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, objs)
		})
	}
}

// TestLint runs `helm lint`'s checks (Chart.yaml, values, templates, and
// that every rendered object is valid YAML with a kind and a name).
func TestLint(t *testing.T) {
	l := lint.All(chartDir, nil, Namespace, false)
	for _, m := range l.Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		}
	}
}

// TestNotes: what `helm install` prints tells how to label a namespace Helm
// created, and how the CRDs are kept.
func TestNotes(t *testing.T) {
	ch, err := Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		sets         []string
		want, absent string
	}{
		{nil, "kubectl label namespace leaselb-system pod-security.kubernetes.io/enforce=privileged", ""},
		{nil, "helm uninstall` keeps them", ""},
		{[]string{"namespace.create=true"}, "", "kubectl label namespace"},
		{[]string{"crds.keep=false"}, "upgrades them", "keeps them"},
	} {
		vals, err := ParseSets(tt.sets)
		if err != nil {
			t.Fatal(err)
		}
		notes, err := Notes(ch, Namespace, vals)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(notes, tt.want) || (tt.absent != "" && strings.Contains(notes, tt.absent)) {
			t.Errorf("--set %v: NOTES.txt should contain %q and not %q:\n%s", tt.sets, tt.want, tt.absent, notes)
		}
	}
}
