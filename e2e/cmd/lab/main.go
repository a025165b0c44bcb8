// Command lab runs the leaselb lab by hand: `lab up` starts it and waits for
// Ctrl-C, `lab demo` is `make demo`, `lab bench` is `make bench`, `lab
// bench-scale` is `make bench-scale`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/leaselb/leaselb/e2e/lab"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: lab up|demo|bench|bench-scale [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	root, err := lab.FindRoot()
	if err != nil {
		fatal(err)
	}
	switch os.Args[1] {
	case "up":
		err = up(ctx, root, os.Args[2:])
	case "demo":
		err = demo(ctx, root)
	case "bench":
		err = bench(ctx, root, os.Args[2:])
	case "bench-scale":
		err = benchScaleCmd(ctx, root, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want up, demo, bench or bench-scale", os.Args[1])
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "lab:", err)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Printf("%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// up starts the lab and keeps it until Ctrl-C.
func up(ctx context.Context, root string, args []string) error {
	opts := lab.Options{Prefix: "ll-", Root: root, Logf: logf, Kubelets: true}
	for _, a := range args {
		switch a {
		case "--no-leaselb":
			opts.NoLeaselb = true
		case "--stand-ins":
			opts.Kubelets = false
		default:
			return fmt.Errorf("lab up: unknown flag %q: want --no-leaselb or --stand-ins", a)
		}
	}
	if !opts.Kubelets {
		opts.SpeakerArgs = []string{"--log-level=debug"}
	}
	l, err := lab.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer l.Close()
	logf("lab up. kubectl: ip netns exec ll-client %s --kubeconfig %s get nodes", l.Bin("kubectl"), l.AdminKubeconfig())
	logf("logs in %s. Ctrl-C tears down.", l.LogDir())
	<-ctx.Done()
	logf("tearing down")
	return nil
}
