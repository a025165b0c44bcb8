// Command echo is the lab's demo app, the walkthrough's sample backend as a
// real container: it answers every HTTP request on each of its ports with
//
//	From=<pod name>
//
// so a client of a LoadBalancer Service sees which pod served it. The pod
// name comes from $POD_NAME (the Deployment sets it from the downward API),
// else the hostname, which is the pod name in a pod. /healthz answers "ok"
// for probes. SIGTERM (the kubelet stopping the pod) closes the listeners,
// lets requests in flight finish and exits 0.
//
// It is built into the image leaselb.lab/echo:v1 by `make lab-images`, with
// the same tool as leaselb's image. Standard library only: it is test
// scaffolding for e2e/lab, not part of leaselb.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Getenv); err != nil {
		log.Fatalf("echo: %v", err)
	}
}

// parsePorts reads "8080,8081".
func parsePorts(s string) ([]int, error) {
	var ports []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		p, err := strconv.Atoi(f)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("port %q in %q: want numbers 1-65535 separated by commas, e.g. 8080,8081", f, s)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// podName is $POD_NAME, else the hostname.
func podName(getenv func(string) string) string {
	if n := getenv("POD_NAME"); n != "" {
		return n
	}
	if n, err := os.Hostname(); err == nil && n != "" {
		return n
	}
	return "unknown"
}

func run(args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	def := getenv("ECHO_PORTS")
	if def == "" {
		def = "8080,8081"
	}
	portsFlag := fs.String("ports", def, "ports to serve on, comma-separated (default from $ECHO_PORTS, else 8080,8081)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ports, err := parsePorts(*portsFlag)
	if err != nil {
		return err
	}
	var lns []net.Listener
	for _, p := range ports {
		ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
	}
	pod := podName(getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.Printf("echo: pod %s serving on %s", pod, *portsFlag)
	return serve(ctx, lns, handler(pod))
}

// handler answers /healthz with "ok" and everything else with the pod name.
func handler(pod string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "From="+pod+"\n")
	})
	return mux
}

// serve serves h on every listener until ctx ends, then shuts down
// gracefully (requests in flight get 5 s) and returns nil.
func serve(ctx context.Context, lns []net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, len(lns))
	var wg sync.WaitGroup
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); err == nil {
		err = serr
	}
	wg.Wait()
	return err
}
