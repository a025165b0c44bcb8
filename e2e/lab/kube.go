package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// kubeconfig renders a kubeconfig for the lab's API server.
func (l *Lab) kubeconfig(user string, auth string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: %s
    certificate-authority: %s
contexts:
- name: lab
  context: {cluster: lab, user: %s}
current-context: lab
users:
- name: %s
  user:
%s
`, l.APIServerURL(), l.pki.caFile, user, user, auth)
}

// AdminKubeconfig is the path of the admin kubeconfig (client certificate in
// system:masters). Use it from a lab namespace, e.g. via Kubectl.
func (l *Lab) AdminKubeconfig() string { return filepath.Join(l.stateDir, "admin.kubeconfig") }

// ComponentKubeconfig is the path of the kubeconfig holding the token of
// ServiceAccount sa in leaselb-system.
func (l *Lab) ComponentKubeconfig(sa string) string {
	return filepath.Join(l.stateDir, sa+".kubeconfig")
}

func (l *Lab) writeAdminKubeconfig() error {
	auth := fmt.Sprintf("    client-certificate: %s\n    client-key: %s", l.pki.AdminCert, l.pki.AdminKey)
	return os.WriteFile(l.AdminKubeconfig(), []byte(l.kubeconfig("lab-admin", auth)), 0o600)
}

// Kubectl runs the lab's kubectl as the admin from the client namespace,
// as a person at a workstation on the LAN would, and returns its output.
func (l *Lab) Kubectl(ctx context.Context, args ...string) (string, error) {
	all := append([]string{"--kubeconfig", l.AdminKubeconfig()}, args...)
	return NetnsExec(ctx, l.Hosts["client"].NS, l.Bin("kubectl"), all...)
}

// KubectlStdin is Kubectl with stdin, for `apply -f -`.
func (l *Lab) KubectlStdin(ctx context.Context, stdin string, args ...string) (string, error) {
	all := append([]string{"netns", "exec", l.Hosts["client"].NS, l.Bin("kubectl"), "--kubeconfig", l.AdminKubeconfig()}, args...)
	cmd := exec.CommandContext(ctx, "ip", all...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// rbacKinds are the objects of the install manifest the lab applies for
// real: what the components need to run under their own ServiceAccounts.
// Workloads (Deployment, DaemonSet, ...) are only dry-run: the lab runs the
// binaries itself.
var rbacKinds = map[string]bool{
	"Namespace": true, "ServiceAccount": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true,
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// applyManifests applies the CRDs and the RBAC of manifests/leaselb.yaml, then
// dry-runs the whole install manifest on the server so any schema error in
// it fails the lab.
func (l *Lab) applyManifests(ctx context.Context) error {
	crds := filepath.Join(l.opts.Root, "manifests", "crds")
	if _, err := l.Kubectl(ctx, "apply", "--server-side", "-f", crds); err != nil {
		return err
	}
	if _, err := l.Kubectl(ctx, "wait", "--for", "condition=Established", "crd", "--all", "--timeout=120s"); err != nil {
		return err
	}
	install := filepath.Join(l.opts.Root, "manifests", "leaselb.yaml")
	data, err := os.ReadFile(install)
	if err != nil {
		return fmt.Errorf("lab: the install manifest: %w (render it with `make manifests`)", err)
	}
	var keep []string
	for _, doc := range docSep.Split(string(data), -1) {
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return fmt.Errorf("lab: %s: %w", install, err)
		}
		if rbacKinds[head.Kind] {
			keep = append(keep, doc)
		}
	}
	if len(keep) == 0 {
		return fmt.Errorf("lab: %s holds no Namespace, ServiceAccount or RBAC objects", install)
	}
	l.RBACSource = install + " (Namespace, ServiceAccounts, RBAC)"
	if _, err := l.KubectlStdin(ctx, strings.Join(keep, "\n---\n"), "apply", "--server-side", "-f", "-"); err != nil {
		return err
	}
	if _, err := l.Kubectl(ctx, "apply", "--server-side", "--dry-run=server", "-f", install); err != nil {
		return fmt.Errorf("lab: server-side dry-run of %s: %w", install, err)
	}
	return nil
}

// registerNodes creates a Ready Node object for each node namespace, with
// its lab addresses, as a kubelet would.
func (l *Lab) registerNodes(ctx context.Context) error {
	for _, h := range l.Nodes {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:   h.Name,
			Labels: map[string]string{"kubernetes.io/hostname": h.Name, "kubernetes.io/os": "linux"},
		}}
		created, err := l.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("lab: create Node %s: %w", h.Name, err)
		}
		now := metav1.Now()
		created.Status = corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: h.IPv4.String()},
				{Type: corev1.NodeInternalIP, Address: h.IPv6.String()},
				{Type: corev1.NodeHostName, Address: h.Name},
			},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "lab node", LastHeartbeatTime: now, LastTransitionTime: now},
				{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "LabNetwork", LastHeartbeatTime: now, LastTransitionTime: now},
			},
		}
		if _, err := l.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("lab: status of Node %s: %w", h.Name, err)
		}
	}
	return nil
}

// writeComponentKubeconfigs asks the TokenRequest API for a token of each
// leaselb ServiceAccount and writes a kubeconfig with it, so each component
// runs with exactly the permissions the manifests grant it.
func (l *Lab) writeComponentKubeconfigs(ctx context.Context) error {
	for _, sa := range []string{"controller", "speaker"} {
		var tok *authv1.TokenRequest
		var err error
		// The ServiceAccount was just applied; give the cache a moment.
		for i := 0; i < 20; i++ {
			exp := int64(48 * 3600)
			tok, err = l.Client.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, sa,
				&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
			if err == nil {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("lab: token for ServiceAccount %s/%s (is it in the manifests?): %w", Namespace, sa, err)
		}
		auth := "    token: " + tok.Status.Token
		if err := os.WriteFile(l.ComponentKubeconfig(sa), []byte(l.kubeconfig("system:serviceaccount:"+Namespace+":"+sa, auth)), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// StartController starts `leaselb controller` in the control namespace
// with the controller ServiceAccount's token.
func (l *Lab) StartController() error {
	c := l.Hosts["control"]
	args := append([]string{"controller", "--kubeconfig", l.ComponentKubeconfig("controller")}, l.opts.ControllerArgs...)
	_, err := l.spawn("controller", c.NS, []string{"POD_NAMESPACE=" + Namespace, "POD_NAME=controller-lab"}, l.Bin("leaselb"), args...)
	return err
}

// StartSpeaker starts `leaselb speaker` in the node's namespace with the
// speaker ServiceAccount's token.
func (l *Lab) StartSpeaker(node string) error {
	h := l.Hosts[node]
	if h == nil {
		return fmt.Errorf("lab: no node %q", node)
	}
	args := []string{"speaker", "--kubeconfig", l.ComponentKubeconfig("speaker")}
	if l.speakerTakesNodeNameFlag() {
		args = append(args, "--node-name", node)
	}
	l.mu.Lock()
	args = append(args, l.opts.SpeakerArgs...)
	env := append([]string{"POD_NAMESPACE=" + Namespace, "NODE_NAME=" + node}, l.opts.SpeakerEnv...)
	l.mu.Unlock()
	_, err := l.spawn("speaker-"+node, h.NS, env, l.Bin("leaselb"), args...)
	return err
}

// SetSpeakerArgs replaces Options.SpeakerArgs for every speaker started from
// now on (StartSpeaker, RecoverNode), so one lab can compare speaker
// settings; a running speaker keeps its flags until it is restarted.
func (l *Lab) SetSpeakerArgs(args ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opts.SpeakerArgs = append([]string(nil), args...)
}

// speakerTakesNodeNameFlag reports whether `leaselb speaker` has a
// --node-name flag (else it reads NODE_NAME, which the lab sets too).
func (l *Lab) speakerTakesNodeNameFlag() bool {
	out, _ := exec.Command(l.Bin("leaselb"), "speaker", "-h").CombinedOutput()
	return strings.Contains(string(out), "-node-name")
}

// StartProxy starts the kube-proxy stand-in in the node's namespace.
func (l *Lab) StartProxy(node string) error {
	h := l.Hosts[node]
	_, err := l.spawn("proxy-"+node, h.NS, nil, l.Bin("labagent"), "proxy", "--kubeconfig", l.AdminKubeconfig(), "--node", node)
	return err
}
