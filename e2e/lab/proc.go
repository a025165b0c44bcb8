package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// spawnReq asks the spawner thread to start a command.
type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

// startOnSpawner starts cmd from one OS thread that lives as long as the
// process. Pdeathsig fires when the *thread* that forked the child ends, and
// DialerIn ends threads on purpose (they were switched into a lab
// namespace); starting children from a thread that never ends ties their
// lives to the lab process and nothing else.
func startOnSpawner(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread()
			for r := range spawnCh {
				r.err <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnCh <- r
	return <-r.err
}

// A Proc is one process the lab started inside a namespace.
type Proc struct {
	// Name identifies the process in the lab (etcd, kube-apiserver,
	// controller, speaker-node-a, proxy-node-a, ...).
	Name string
	// LogFile holds its stdout and stderr, appended across restarts.
	LogFile string

	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// spawn starts a process in the network namespace (with `ip netns exec`)
// and registers it under name, replacing an exited process of the same name.
func (l *Lab) spawn(name, ns string, env []string, bin string, args ...string) (*Proc, error) {
	return l.spawnArgv(name, env, append([]string{"ip", "netns", "exec", ns, bin}, args...))
}

// spawnArgv starts argv as it is (for programs that enter namespaces
// themselves, such as nsenter) and registers it under name, replacing an
// exited process of the same name.
func (l *Lab) spawnArgv(name string, env []string, argv []string) (*Proc, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old := l.procs[name]; old != nil && !old.Exited() {
		return nil, fmt.Errorf("lab: %s is already running (pid %d)", name, old.cmd.Process.Pid)
	}
	logFile := filepath.Join(l.LogDir(), name+".log")
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "\n==== %s start %s\n", time.Now().Format(time.RFC3339Nano), name)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so a signal from a terminal reaches the lab
	// (which then tears down in order) rather than every child at once;
	// and killed with the lab if the lab itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := startOnSpawner(cmd); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: start %s: %w", name, err)
	}
	p := &Proc{Name: name, LogFile: logFile, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "==== %s exit %s: %v\n", time.Now().Format(time.RFC3339Nano), name, err)
		f.Close()
		close(p.done)
	}()
	l.procs[name] = p
	return p, nil
}

// Proc returns the process registered under name, or nil.
func (l *Lab) Proc(name string) *Proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.procs[name]
}

// Pid is the process id (ip netns exec replaces itself with the program).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Wait waits up to timeout for the process to end and reports whether it did.
func (p *Proc) Wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Stop sends SIGTERM, waits up to grace, then kills the process.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	p.Signal(syscall.SIGTERM)
	if !p.Wait(grace) {
		p.Kill()
	}
}

// Kill ends the process at once (SIGKILL) and waits for it.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
}

// Spawn starts bin in the network namespace ns and registers it under name,
// like the lab's own components: it is stopped by Close, dies with the lab
// process, and logs to LogDir()/<name>.log.
func (l *Lab) Spawn(name, ns string, env []string, bin string, args ...string) (*Proc, error) {
	return l.spawn(name, ns, env, bin, args...)
}
