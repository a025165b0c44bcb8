package doctor

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/internal/speaker"
)

func speakerDS(args ...string) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{}
	ds.Spec.Template.Spec.Containers = []corev1.Container{{Name: "speaker", Args: append([]string{"speaker"}, args...)}}
	return ds
}

func TestSpeakerFlagsOf(t *testing.T) {
	tests := []struct {
		name string
		ds   *appsv1.DaemonSet
		want SpeakerFlags
	}{
		{"no DaemonSet", nil, SpeakerFlags{}},
		{"defaults", speakerDS("--log-level=info"), SpeakerFlags{}},
		{"both, Helm's form", speakerDS("--require-class", "--ignore-exclude-label"), SpeakerFlags{RequireClass: true, IgnoreExcludeLabel: true}},
		{"one dash and a value", speakerDS("-ignore-exclude-label=true"), SpeakerFlags{IgnoreExcludeLabel: true}},
		{"turned off again", speakerDS("--ignore-exclude-label", "--ignore-exclude-label=false"), SpeakerFlags{}},
		{"a value is not the flag", speakerDS("ignore-exclude-label"), SpeakerFlags{}},
		{"a longer name is not the flag", speakerDS("--ignore-exclude-labels"), SpeakerFlags{}},
	}
	for _, tt := range tests {
		if got := SpeakerFlagsOf(tt.ds); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// TestWorldHonoursIgnoreExcludeLabel: the World doctor and status build
// decides like speakers run with the DaemonSet's --ignore-exclude-label.
func TestWorldHonoursIgnoreExcludeLabel(t *testing.T) {
	cp := withLabel(node("cp1", "192.0.2.11"), v1alpha1.LabelExcludeFromLB, "")
	web := svc("web", "192.0.2.10")
	groups, _ := speaker.Groups([]*corev1.Service{&web}, false)
	for _, tt := range []struct {
		ds   *appsv1.DaemonSet
		want bool
	}{{speakerDS(), false}, {speakerDS("--ignore-exclude-label"), true}} {
		s := snap(func(s *Snapshot) {
			s.Nodes = []corev1.Node{cp}
			s.Pools = []v1alpha1.IPAddressPool{pool("lan", "192.0.2.0/24")}
			s.Advertisements = []v1alpha1.L2Advertisement{ad("lan", "lan")}
			s.Speaker = tt.ds
		})
		d := World(s).Decide("cp1", groups[0], false)
		if d.Candidate != tt.want {
			t.Errorf("args %v: candidate %v (%s), want %v", tt.ds.Spec.Template.Spec.Containers[0].Args, d.Candidate, d.Message, tt.want)
		}
	}
}

func TestExcludeLabel(t *testing.T) {
	cp := func(name string) corev1.Node {
		return withLabel(node(name, "192.0.2.11"), v1alpha1.LabelExcludeFromLB, "")
	}
	tests := []struct {
		name  string
		nodes []corev1.Node
		pods  []corev1.Pod
		ds    *appsv1.DaemonSet
		want  []want
	}{
		{"single-node kubeadm homelab", []corev1.Node{cp("cp1")}, []corev1.Pod{readyPod("speaker-a", "cp1")}, speakerDS(),
			[]want{{Fail, "", "every node that runs a speaker (cp1) is labelled"}}},
		{"the fix names the Helm value", []corev1.Node{cp("cp1")}, []corev1.Pod{readyPod("speaker-a", "cp1")}, speakerDS(),
			[]want{{Fail, "", "--set speaker.ignoreExcludeLabel=true"}}},
		{"the fix names the flag", []corev1.Node{cp("cp1")}, []corev1.Pod{readyPod("speaker-a", "cp1")}, speakerDS(),
			[]want{{Fail, "", "add - --ignore-exclude-label to the speaker's args"}}},
		{"already ignored", []corev1.Node{cp("cp1")}, []corev1.Pod{readyPod("speaker-a", "cp1")}, speakerDS("--ignore-exclude-label"),
			[]want{{OK, "", "run with --ignore-exclude-label, so the labelled node(s) cp1 announce too"}}},
		{"a worker announces", []corev1.Node{cp("cp1"), node("w1", "192.0.2.12")},
			[]corev1.Pod{readyPod("speaker-a", "cp1"), readyPod("speaker-b", "w1")}, speakerDS(),
			[]want{{OK, "", "node(s) cp1 are labelled"}}},
		{"a speaker only on the labelled node; the unlabelled one has none", []corev1.Node{cp("cp1"), node("w1", "192.0.2.12")},
			[]corev1.Pod{readyPod("speaker-a", "cp1")}, speakerDS(),
			[]want{{Fail, "", "(cp1)"}}},
		{"nothing labelled", []corev1.Node{node("w1", "192.0.2.12")}, []corev1.Pod{readyPod("speaker-b", "w1")}, speakerDS(),
			[]want{{OK, "", "no node that runs a speaker is labelled"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := snap(func(s *Snapshot) { s.Nodes, s.Pods, s.Speaker = tt.nodes, tt.pods, tt.ds })
			expect(t, runCheck(t, "exclude-label", s, Options{}), tt.want)
		})
	}
}
