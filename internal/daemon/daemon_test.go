package daemon

import (
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthEndpoints(t *testing.T) {
	bad := func() error { return errors.New("node lease not renewed for 5s") }
	ok := func() error { return nil }
	tests := []struct {
		name          string
		live, ready   Check
		path          string
		wantCode      int
		wantInBody    string
		wantNotInBody string
	}{
		{"all healthy, healthz", ok, ok, "/healthz", 200, "[+] live ok", "ready"},
		{"all healthy, readyz", ok, ok, "/readyz", 200, "[+] ready ok", ""},
		{"not ready does not fail healthz", ok, bad, "/healthz", 200, "[+] live ok", "ready"},
		{"not ready fails readyz", ok, bad, "/readyz", 503, "[-] ready: node lease not renewed", ""},
		{"not live fails both", bad, ok, "/readyz", 503, "[-] live: node lease", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Health
			h.AddLiveness("live", tt.live)
			h.AddReadiness("ready", tt.ready)
			rec := httptest.NewRecorder()
			h.handler(tt.path == "/readyz").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			body := rec.Body.String()
			if rec.Code != tt.wantCode {
				t.Errorf("status %d, want %d; body:\n%s", rec.Code, tt.wantCode, body)
			}
			if !strings.Contains(body, tt.wantInBody) {
				t.Errorf("body %q does not contain %q", body, tt.wantInBody)
			}
			if tt.wantNotInBody != "" && strings.Contains(body, tt.wantNotInBody) {
				t.Errorf("body %q contains %q", body, tt.wantNotInBody)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantNS     string
		wantLogErr bool
		wantCfgErr string
	}{
		{name: "defaults", wantNS: DefaultNamespace, wantCfgErr: "pass --kubeconfig"},
		{name: "namespace from the pod", env: map[string]string{"POD_NAMESPACE": "lb"}, wantNS: "lb", wantCfgErr: "pass --kubeconfig"},
		{name: "flag wins", args: []string{"--namespace=x"}, env: map[string]string{"POD_NAMESPACE": "lb"}, wantNS: "x", wantCfgErr: "pass --kubeconfig"},
		{name: "bad log level", args: []string{"--log-level=loud"}, wantNS: DefaultNamespace, wantLogErr: true, wantCfgErr: "pass --kubeconfig"},
		{name: "missing kubeconfig file", args: []string{"--kubeconfig=/nonexistent/kubeconfig"}, wantNS: DefaultNamespace, wantCfgErr: "/nonexistent/kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tt.env["POD_NAMESPACE"])
			t.Setenv("KUBECONFIG", "")
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			var o Options
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			o.AddFlags(fs, ":1", ":2", 5, 10)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if o.Namespace != tt.wantNS {
				t.Errorf("namespace %q, want %q", o.Namespace, tt.wantNS)
			}
			if _, err := o.Logger(); (err != nil) != tt.wantLogErr {
				t.Errorf("Logger error %v, want error: %v", err, tt.wantLogErr)
			}
			_, err := o.RESTConfig("test")
			if err == nil || !strings.Contains(err.Error(), tt.wantCfgErr) {
				t.Errorf("RESTConfig error %v, want one containing %q", err, tt.wantCfgErr)
			}
		})
	}
}
