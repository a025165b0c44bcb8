package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// run runs a command and returns its combined output, with the command line
// in the error so a failed step says what it tried.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// ip runs one iproute2 command.
func ip(ctx context.Context, args ...string) error {
	_, err := run(ctx, "ip", args...)
	return err
}

// NetnsExec runs a command inside the named network namespace and returns
// its combined output.
func NetnsExec(ctx context.Context, ns string, name string, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// netnsNames lists the named network namespaces (those under /run/netns).
func netnsNames() []string {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// removeNetns kills every process in the namespace, then deletes it. It
// never fails: a namespace that cannot go is reported by the caller's next
// Start, which tries again.
func removeNetns(name string) {
	killNetnsProcs(name)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = ip(ctx, "netns", "del", name)
}

// DialerIn returns a DialContext function whose sockets live in the named
// network namespace, so the test process (in the machine's namespace, with
// no lab address) can talk to the API server and the VIPs as a machine on the
// lab network would. Each dial runs on its own OS thread, switched into the
// namespace and never switched back: the thread is locked and so ends with
// the goroutine, and no other goroutine ever runs in the lab namespace.
func DialerIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return inNetns(ns, func() (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		})
	}
}

// inNetns runs f on a new OS thread switched into the named network
// namespace, so the sockets f makes belong to it; they stay there when used
// from any goroutine afterwards. The thread is locked and never switched
// back: it ends with its goroutine, and no other goroutine ever runs in the
// lab namespace.
func inNetns[T any](ns string, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the runtime ends this thread with the goroutine.
		if err := enterNetns(ns); err != nil {
			var zero T
			ch <- result{zero, err}
			return
		}
		v, err := f()
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}

// enterNetns switches the calling (locked) thread into the named namespace.
func enterNetns(ns string) error {
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("lab: network namespace %s: %w", ns, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("lab: enter network namespace %s: %w", ns, err)
	}
	return nil
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
