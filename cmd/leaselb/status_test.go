package main

import (
	"bytes"
	"testing"

	"github.com/leaselb/leaselb/internal/status"
)

func TestProgramName(t *testing.T) {
	tests := map[string]string{
		"leaselb":                          "leaselb",
		"/usr/local/bin/leaselb":           "leaselb",
		"/usr/local/bin/kubectl-leaselb":   "kubectl leaselb",
		"kubectl-leaselb.exe":              "kubectl leaselb",
		"/home/me/bin/kubectl-leaselb-old": "leaselb",
	}
	for arg0, want := range tests {
		if got := programName(arg0); got != want {
			t.Errorf("%q: got %q, want %q", arg0, got, want)
		}
	}
}

func TestParseStatusFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
		check   func(statusFlags) bool
	}{
		{nil, false, func(f statusFlags) bool {
			return f.run.Namespace == "leaselb-system" && f.run.Format == status.Table && !f.run.Watch && f.run.Service == ""
		}},
		{[]string{"-n", "lb", "-o", "json", "--watch", "default/web"}, false, func(f statusFlags) bool {
			return f.run.Namespace == "lb" && f.run.Format == status.JSON && f.run.Watch && f.run.Service == "default/web"
		}},
		{[]string{"web", "-o", "wide", "-w", "--kubeconfig", "kc", "--namespace", "x"}, false, func(f statusFlags) bool {
			return f.run.Service == "web" && f.run.Format == status.Wide && f.run.Watch && f.kubeconfig == "kc" && f.run.Namespace == "x"
		}},
		{[]string{"-o", "yaml"}, false, func(f statusFlags) bool { return f.run.Format == status.YAML }},
		{[]string{"-o", "xml"}, true, nil},
		{[]string{"a", "b"}, true, nil},
		{[]string{"--nope"}, true, nil},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		f, err := parseStatusFlags(tt.args, &stderr)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v (stderr %s), want error %v", tt.args, err, stderr.String(), tt.wantErr)
			continue
		}
		if err == nil && !tt.check(f) {
			t.Errorf("%q: got %+v", tt.args, f)
		}
	}
}
