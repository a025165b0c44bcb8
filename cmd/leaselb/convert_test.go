package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

func TestConvertCommand(t *testing.T) {
	td := filepath.Join("..", "..", "internal", "convert", "testdata")
	legacy, err := os.ReadFile(filepath.Join(td, "legacy-layer2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantExit   int    // 0 = nil error
		wantStdout string // substring; "" = stdout must be empty
		wantStderr string // substring
	}{
		{name: "a file", args: []string{"-f", filepath.Join(td, "l2-simple.yaml")}, wantStdout: "name: first-pool", wantStderr: "wrote 1 IPAddressPool(s) and 1 L2Advertisement(s)"},
		{name: "stdin and a file", args: []string{"-f", "-", "--filename", filepath.Join(td, "l2-simple.yaml")}, stdin: string(legacy),
			wantStdout: "name: default", wantStderr: "wrote 2 IPAddressPool(s)"},
		{name: "a directory", args: []string{"-f", td}, wantExit: convertExitLoss, wantStderr: "nothing was written"},
		{name: "losses: exit 1, nothing written", args: []string{"-f", filepath.Join(td, "bgp.yaml")},
			wantExit: convertExitLoss, wantStderr: "not converted: BGPPeer metallb-system/sample"},
		{name: "--drop-unsupported writes the rest", args: []string{"-f", filepath.Join(td, "bgp.yaml"), "--drop-unsupported"},
			wantStdout: "name: first-pool", wantStderr: "dropped: BGPPeer metallb-system/sample"},
		{name: "--namespace", args: []string{"-f", filepath.Join(td, "l2-simple.yaml"), "--namespace", "lb"}, wantStdout: "namespace: lb"},
		{name: "no input", wantExit: convertExitNoInput, wantStderr: "give -f FILE"},
		{name: "both inputs", args: []string{"-f", "x", "--from-cluster"}, wantExit: convertExitNoInput, wantStderr: "not both"},
		{name: "missing file", args: []string{"-f", filepath.Join(empty, "nope.yaml")}, wantExit: convertExitNoInput, wantStderr: "nope.yaml"},
		{name: "nothing of MetalLB's", args: []string{"-f", "-"}, stdin: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n",
			wantExit: convertExitNoInput, wantStderr: "found no MetalLB configuration"},
		{name: "bad flag", args: []string{"--nope"}, wantExit: convertExitNoInput},
		{name: "a stray argument", args: []string{"file.yaml"}, wantExit: convertExitNoInput, wantStderr: "files go after -f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := convertMain(context.Background(), tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			var ex exitError
			switch {
			case tt.wantExit == 0 && err != nil:
				t.Fatalf("err %v\nstderr:\n%s", err, stderr.String())
			case tt.wantExit != 0 && (!errors.As(err, &ex) || int(ex) != tt.wantExit):
				t.Fatalf("err %v, want exit %d\nstderr:\n%s", err, tt.wantExit, stderr.String())
			}
			if tt.wantStdout == "" && stdout.Len() > 0 {
				t.Errorf("stdout should be empty:\n%s", stdout.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr.String())
			}
		})
	}
}

func TestClusterObjects(t *testing.T) {
	u := func(apiVersion, kind, ns, name string, extra map[string]any) *unstructured.Unstructured {
		o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name, "namespace": ns}}
		for k, v := range extra {
			o[k] = v
		}
		return &unstructured.Unstructured{Object: o}
	}
	lb := map[string]any{"spec": map[string]any{"type": "LoadBalancer"}}
	objs := []runtime.Object{
		u("metallb.io/v1beta1", "IPAddressPool", "metallb-system", "lan", nil),
		u("metallb.io/v1beta1", "L2Advertisement", "metallb-system", "l2", nil),
		u("metallb.io/v1beta2", "BGPPeer", "metallb-system", "peer", nil),
		u("v1", "ConfigMap", "metallb-system", "config", map[string]any{"data": map[string]any{"config": "address-pools: []\n"}}),
		u("v1", "ConfigMap", "metallb-system", "other", nil),
		u("v1", "Service", "web", "front", lb),
		u("v1", "Service", "web", "internal", map[string]any{"spec": map[string]any{"type": "ClusterIP"}}),
	}
	listKinds := map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "services"}:   "ServiceList",
		{Version: "v1", Resource: "configmaps"}: "ConfigMapList",
	}
	for _, alts := range metallbResources {
		for _, gvr := range alts {
			listKinds[gvr] = "List"
		}
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, objs...)
	got, err := clusterObjects(context.Background(), dyn, "metallb-system")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range got {
		names = append(names, o["kind"].(string)+"/"+o["metadata"].(map[string]any)["name"].(string))
	}
	want := "IPAddressPool/lan L2Advertisement/l2 BGPPeer/peer ConfigMap/config Service/front"
	if strings.Join(names, " ") != want {
		t.Errorf("read %q, want %q", strings.Join(names, " "), want)
	}
}
