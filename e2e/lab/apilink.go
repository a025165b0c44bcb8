package lab

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The API server's link. The kernel here has no netem qdisc, so the lab
// cannot add latency with tc; instead the API server listens on loopback in
// the control namespace, and every client reaches it through apiLink, a TCP
// relay on the management address that can hold back what the API server
// sends by a given delay (DelayAPI). With no delay it forwards at once. The
// delay applies to each chunk as it arrives and keeps the order, so a
// stream stays a stream (pipelined, every byte late by the same amount),
// which is what latency on a link does; it does not stop the flow the way
// pausing a process does. It can also cut the link (setCut): it resets every
// connection through it and stops listening, so new connections are refused
// (ECONNREFUSED, as from a host whose API server is down), until restored.

// apiLink is the relay in front of the API server.
type apiLink struct {
	ns, addr string
	target   string
	dial     func(context.Context, string, string) (net.Conn, error)
	delay    atomic.Int64 // nanoseconds added to everything the server sends
	wg       sync.WaitGroup

	mu     sync.Mutex
	ln     net.Listener // nil while cut
	closed bool
	conns  map[net.Conn]struct{}
}

// listenIn opens a TCP listener in the named network namespace.
func listenIn(ns, addr string) (net.Listener, error) {
	return inNetns(ns, func() (net.Listener, error) { return net.Listen("tcp", addr) })
}

// startAPILink relays addr (in namespace ns) to target, which the relay
// dials from the same namespace.
func startAPILink(ns, addr, target string) (*apiLink, error) {
	a := &apiLink{ns: ns, addr: addr, target: target, dial: DialerIn(ns), conns: map[net.Conn]struct{}{}}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.listen(); err != nil {
		return nil, err
	}
	return a, nil
}

// listen opens the listener and serves it; a.mu is held.
func (a *apiLink) listen() error {
	ln, err := listenIn(a.ns, a.addr)
	if err != nil {
		return err
	}
	a.ln = ln
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				a.relay(c, a.dial)
			}()
		}
	}()
	return nil
}

// relay forwards one client connection.
func (a *apiLink) relay(client net.Conn, dial func(context.Context, string, string) (net.Conn, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	server, err := dial(ctx, "tcp", a.target)
	cancel()
	if err != nil {
		client.Close()
		return
	}
	if !a.track(client, server) {
		return
	}
	defer a.untrack(client, server)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); done <- struct{}{} }()
	go func() { a.delayedCopy(client, server); done <- struct{}{} }()
	<-done
	client.Close()
	server.Close()
	<-done
}

// delayedCopy copies src to dst, each chunk held back by the delay in force
// when it was read.
func (a *apiLink) delayedCopy(dst io.Writer, src io.Reader) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(time.Duration(a.delay.Load())), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			time.Sleep(d)
		}
		if _, err := dst.Write(c.data); err != nil {
			// Drain so the reader never blocks on a full queue.
			for range q {
			}
			return
		}
	}
}

func (a *apiLink) track(cs ...net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conns == nil || a.ln == nil { // closed, or cut since it was accepted
		for _, c := range cs {
			reset(c)
		}
		return false
	}
	for _, c := range cs {
		a.conns[c] = struct{}{}
	}
	return true
}

func (a *apiLink) untrack(cs ...net.Conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range cs {
		delete(a.conns, c)
	}
}

// reset closes c with a TCP reset, as a connection cut by a host that no
// longer knows it ends.
func reset(c net.Conn) {
	if t, ok := c.(*net.TCPConn); ok {
		_ = t.SetLinger(0)
	}
	c.Close()
}

// setCut cuts the link (every connection through it is reset, and new ones
// are refused) or restores it.
func (a *apiLink) setCut(cut bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || cut == (a.ln == nil) {
		return nil
	}
	if !cut {
		return a.listen()
	}
	a.ln.Close()
	a.ln = nil
	for c := range a.conns {
		reset(c)
	}
	return nil
}

// setDelay sets the latency added to what the API server sends.
func (a *apiLink) setDelay(d time.Duration) { a.delay.Store(int64(d)) }

// close stops the relay and cuts every connection through it.
func (a *apiLink) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	if a.ln != nil {
		a.ln.Close()
		a.ln = nil
	}
	a.closed = true
	for c := range a.conns {
		c.Close()
	}
	a.conns = nil
	a.mu.Unlock()
	a.wg.Wait()
}
