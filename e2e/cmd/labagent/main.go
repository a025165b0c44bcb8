// Command labagent runs inside the lab's node namespaces as the stand-in for
// kube-proxy in IPVS mode with strictARP: it watches Services, puts every
// LoadBalancer ingress IP on lo (as kube-proxy puts them on kube-ipvs0; the
// lab sets arp_ignore=1 and arp_announce=2 so the kernel never answers ARP
// for them), and serves HTTP on every Service port, answering with the
// node's name like the walkthrough's sample app:
//
//	Host=192.0.2.190:8080  Path=/  From=node-a  ClientIP=192.0.2.100  XFF=
//
// It is test scaffolding for e2e/lab, not part of leaselb.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "proxy" {
		fmt.Fprintln(os.Stderr, "usage: labagent proxy --kubeconfig FILE --node NAME")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the lab's API server")
	node := fs.String("node", "", "name of the node this namespace plays")
	_ = fs.Parse(os.Args[2:])
	if *kubeconfig == "" || *node == "" {
		log.Fatal("labagent proxy: --kubeconfig and --node are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := runProxy(ctx, *kubeconfig, *node); err != nil {
		log.Fatalf("labagent proxy: %v", err)
	}
}

// A proxy mirrors the Services' ingress IPs and ports into this namespace.
type proxy struct {
	node     string
	services listersv1.ServiceLister

	mu        sync.Mutex
	vips      map[string]bool
	listeners map[int32]net.Listener
}

func runProxy(ctx context.Context, kubeconfig, node string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.UserAgent = "labagent-proxy/" + node
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(cs, 0)
	svcInformer := factory.Core().V1().Services()
	p := &proxy{node: node, services: svcInformer.Lister(), vips: map[string]bool{}, listeners: map[int32]net.Listener{}}
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	_, _ = svcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	})
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	log.Printf("proxy %s: watching Services", node)
	poke()
	for {
		select {
		case <-ctx.Done():
			p.shutdown()
			return nil
		case <-kick:
			p.sync()
		}
	}
}

// sync makes lo's VIPs and the listeners match the Services.
func (p *proxy) sync() {
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		log.Printf("proxy %s: list services: %v", p.node, err)
		return
	}
	wantIPs := map[string]bool{}
	wantPorts := map[int32]bool{}
	for _, s := range svcs {
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		for _, in := range s.Status.LoadBalancer.Ingress {
			if ip := net.ParseIP(in.IP); ip != nil {
				wantIPs[ip.String()] = true
			}
		}
		for _, port := range s.Spec.Ports {
			if port.Protocol == "" || port.Protocol == corev1.ProtocolTCP {
				wantPorts[port.Port] = true
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var batch []string
	for ip := range wantIPs {
		if !p.vips[ip] {
			batch = append(batch, addrOnLo("replace", ip))
			p.vips[ip] = true
		}
	}
	for ip := range p.vips {
		if !wantIPs[ip] {
			batch = append(batch, addrOnLo("del", ip))
			delete(p.vips, ip)
		}
	}
	if len(batch) > 0 {
		if err := ipBatch(batch); err != nil {
			log.Printf("proxy %s: %v", p.node, err)
		}
		log.Printf("proxy %s: %d VIP changes on lo, %d VIPs now", p.node, len(batch), len(p.vips))
	}
	for port := range wantPorts {
		if p.listeners[port] != nil {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			log.Printf("proxy %s: listen on port %d: %v", p.node, port, err)
			continue
		}
		p.listeners[port] = ln
		srv := &http.Server{Handler: http.HandlerFunc(p.answer), ReadHeaderTimeout: 5 * time.Second}
		srv.SetKeepAlivesEnabled(false)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
				log.Printf("proxy %s: serve port %d: %v", p.node, port, err)
			}
		}()
		log.Printf("proxy %s: serving port %d", p.node, port)
	}
	for port, ln := range p.listeners {
		if !wantPorts[port] {
			_ = ln.Close()
			delete(p.listeners, port)
			log.Printf("proxy %s: closed port %d", p.node, port)
		}
	}
	if len(wantIPs) > 0 && len(wantIPs) <= 20 {
		ips := make([]string, 0, len(wantIPs))
		for ip := range wantIPs {
			ips = append(ips, ip)
		}
		sort.Strings(ips)
		log.Printf("proxy %s: VIPs %s", p.node, strings.Join(ips, ","))
	}
}

// answer is the sample app: who answered, for whom.
func (p *proxy) answer(w http.ResponseWriter, r *http.Request) {
	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	fmt.Fprintf(w, "Host=%s  Path=%s  From=%s  ClientIP=%s  XFF=%s\n", r.Host, r.URL.Path, p.node, client, r.Header.Get("X-Forwarded-For"))
}

func (p *proxy) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ln := range p.listeners {
		_ = ln.Close()
	}
	var batch []string
	for ip := range p.vips {
		batch = append(batch, addrOnLo("del", ip))
	}
	_ = ipBatch(batch)
}

// addrOnLo is the `ip -batch` line that adds or removes a host address on
// lo: the VIP is local to the node (so the kernel accepts traffic for it)
// but lives on no interface the network sees.
func addrOnLo(op, ip string) string {
	if strings.Contains(ip, ":") {
		if op == "del" {
			return "addr del " + ip + "/128 dev lo"
		}
		return "addr " + op + " " + ip + "/128 dev lo nodad"
	}
	return "addr " + op + " " + ip + "/32 dev lo"
}

// ipBatch runs iproute2 lines in one process (a thousand VIPs must not
// mean a thousand execs), going on past a failed line.
func ipBatch(lines []string) error {
	cmd := exec.Command("ip", "-force", "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -batch: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
