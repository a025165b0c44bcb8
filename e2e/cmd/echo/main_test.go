package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	h := handler("app-7d9f-x2")
	tests := []struct {
		method, path string
		want         string
	}{
		{"GET", "/", "From=app-7d9f-x2\n"},
		{"GET", "/any/path?q=1", "From=app-7d9f-x2\n"},
		{"POST", "/", "From=app-7d9f-x2\n"},
		{"GET", "/healthz", "ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != http.StatusOK || rec.Body.String() != tt.want {
				t.Errorf("got %d %q, want 200 %q", rec.Code, rec.Body.String(), tt.want)
			}
		})
	}
}

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "8080,8081", want: []int{8080, 8081}},
		{in: "80", want: []int{80}},
		{in: " 8080 , 9090", want: []int{8080, 9090}},
		{in: "8080,", wantErr: true},
		{in: "http", wantErr: true},
		{in: "70000", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePorts(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPodName(t *testing.T) {
	host, _ := os.Hostname()
	tests := []struct {
		name, env, want string
	}{
		{name: "from POD_NAME", env: "echo-5f6c-abcde", want: "echo-5f6c-abcde"},
		{name: "hostname without it", env: "", want: host},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := podName(func(k string) string {
				if k == "POD_NAME" {
					return tt.env
				}
				return ""
			})
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestServeEveryPort: every listener answers, and the end of the context
// stops the server with a nil error.
func TestServeEveryPort(t *testing.T) {
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, lns, handler("p")) }()
	for _, ln := range lns {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "From=p\n" {
			t.Errorf("%s: %q", ln.Addr(), body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
}

// TestSIGTERMExitsCleanly runs the command (this test binary, re-executed
// as main) and stops it as the kubelet does: it must exit 0.
func TestSIGTERMExitsCleanly(t *testing.T) {
	if os.Getenv("ECHO_TEST_MAIN") == "1" {
		os.Args = os.Args[:1] // the -test flags are not the command's
		main()
		os.Exit(0)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGTERMExitsCleanly$")
	cmd.Env = append(os.Environ(), "ECHO_TEST_MAIN=1", "POD_NAME=pod-under-test", "ECHO_PORTS="+strconv.Itoa(port))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	var body []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		break
	}
	if string(body) != "From=pod-under-test\n" {
		t.Errorf("GET %s: %q, want From=pod-under-test", url, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit 0; stderr:\n%s", err, stderr.String())
	}
}
