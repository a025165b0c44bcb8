// Command leaselb is the one binary of leaselb: the controller that hands
// out IPs, the speaker that announces them from one node at a time,
// doctor, which checks a cluster for what breaks layer-2 mode, status,
// which shows who answers for what, and convert, which turns MetalLB's
// configuration into leaselb's. Installed (or linked) as kubectl-leaselb
// it is the kubectl plugin `kubectl leaselb`, with the same commands. This
// package only parses flags and wires the parts together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// A subcommand parses its own flags from args and runs until ctx ends.
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var subcommands = []subcommand{
	{"controller", "assign IPs from IPAddressPools to LoadBalancer Services", runController},
	{"speaker", "announce this node's VIPs on the local network (runs on every node)", runSpeaker},
	{"doctor", "check a cluster for what breaks layer-2 load balancing, and say how to fix it", runDoctor},
	{"status", "show which node answers for each LoadBalancer IP, since when, the last handover and why", runStatus},
	{"convert", "convert MetalLB's layer-2 configuration into leaselb objects, and say what cannot carry over", runConvert},
	{"version", "print the version, commit and Go version", runVersion},
}

// progName is how the user called us: "leaselb", or "kubectl leaselb"
// when the binary runs as the kubectl plugin kubectl-leaselb.
var progName = programName(os.Args[0])

// programName maps the binary's name to the command a person typed: kubectl
// runs a plugin named kubectl-leaselb for `kubectl leaselb`.
func programName(arg0 string) string {
	base := strings.TrimSuffix(filepath.Base(arg0), ".exe")
	if base == "kubectl-leaselb" {
		return "kubectl leaselb"
	}
	return "leaselb"
}

func usage() {
	fmt.Fprintf(os.Stderr, "Usage: %s <command> [flags]\n\nCommands:\n", progName)
	for _, c := range subcommands {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun '%s <command> -h' for a command's flags.\n", progName)
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	name := os.Args[1]
	for _, c := range subcommands {
		if c.name != name {
			continue
		}
		// The first SIGTERM or SIGINT cancels ctx so the command can shut
		// down cleanly (the speaker releases its leases); a second one
		// kills the process at once.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := c.run(ctx, os.Args[2:])
		stop()
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(int(ex))
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s %s: %v\n", progName, name, err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintf(os.Stderr, "%s: unknown command %q\n\n", progName, name)
	usage()
	os.Exit(2)
}

// exitError ends the process with a status and no further message (the
// command has already said what is wrong), as doctor does when it finds
// problems.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
