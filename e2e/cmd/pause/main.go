// Command pause is the lab's pod sandbox image: the process that holds a
// pod's namespaces while its containers come and go, as registry.k8s.io/pause
// does on a real node. The lab cannot pull that image (no registry), so it
// builds this one with the same image tool as leaselb and tells containerd
// to use it (sandbox_image).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	// As PID 1 of a pod with a shared process namespace it inherits
	// orphans: reap them so they do not pile up as zombies.
	signal.Notify(sig, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
