package doctor

import (
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/internal/client/clientset/versioned"
)

// Clients are what Gather reads through.
type Clients struct {
	Kube    kubernetes.Interface
	Leaselb versioned.Interface
	// ServerTime returns the API server's current time; nil means this
	// machine's clock.
	ServerTime func(context.Context) (time.Time, error)
}

// ClientsFor builds the clients of cfg: Kubernetes, leaselb and the API
// server's clock.
func ClientsFor(cfg *rest.Config) (Clients, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("kubernetes client: %w", err)
	}
	lb, err := versioned.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("leaselb client: %w", err)
	}
	serverTime, err := ServerTimeFrom(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("http client: %w", err)
	}
	return Clients{Kube: kube, Leaselb: lb, ServerTime: serverTime}, nil
}

// ServerTimeFrom returns a ServerTime that reads the Date header of a
// GET /version with cfg.
func ServerTimeFrom(cfg *rest.Config) (func(context.Context) (time.Time, error), error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (time.Time, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/version", nil)
		if err != nil {
			return time.Time{}, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return time.Time{}, err
		}
		_ = resp.Body.Close()
		return http.ParseTime(resp.Header.Get("Date"))
	}, nil
}

// ErrUnreachable wraps Gather's error when the API server does not answer
// at all, so nothing could be checked.
var ErrUnreachable = fmt.Errorf("doctor: cannot reach the API server")

// Gather reads a Snapshot of the cluster. It fails only when the API
// server cannot be reached; a source it may not read or that is absent is
// recorded in the Snapshot for the checks to report.
func Gather(ctx context.Context, c Clients, namespace string) (*Snapshot, error) {
	s := &Snapshot{Namespace: namespace, Errors: map[string]string{}, Resources: map[string]bool{}}
	if _, err := c.Kube.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	s.Now = time.Now()
	if c.ServerTime != nil {
		if t, err := c.ServerTime(ctx); err == nil && !t.IsZero() {
			s.Now = t
		}
	}
	note := func(src string, err error) bool {
		if err == nil {
			return true
		}
		s.Errors[src] = err.Error()
		return false
	}
	kube := c.Kube

	cm, err := kube.CoreV1().ConfigMaps(KubeProxyNamespace).Get(ctx, KubeProxyConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case note(SourceKubeProxy, err):
		s.KubeProxy = cm
	}

	gv := v1alpha1.SchemeGroupVersion.String()
	rl, err := kube.Discovery().ServerResourcesForGroupVersion(gv)
	switch {
	case apierrors.IsNotFound(err):
	case note(SourceResources, err):
		for _, r := range rl.APIResources {
			s.Resources[r.Name] = true
		}
	}

	if l, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); note(SourceNodes, err) {
		s.Nodes = l.Items
	}
	ds, err := kube.AppsV1().DaemonSets(namespace).Get(ctx, SpeakerDaemonSet, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case note(SourceSpeaker, err):
		s.Speaker = ds
	}
	dep, err := kube.AppsV1().Deployments(namespace).Get(ctx, ControllerDeployment, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case note(SourceController, err):
		s.Controller = dep
	}
	if l, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=leaselb"}); note(SourcePods, err) {
		s.Pods = l.Items
	}

	if s.Resources["ipaddresspools"] {
		if l, err := c.Leaselb.LeaselbV1alpha1().IPAddressPools(namespace).List(ctx, metav1.ListOptions{}); note(SourcePools, err) {
			s.Pools = l.Items
		}
	}
	if s.Resources["l2advertisements"] {
		if l, err := c.Leaselb.LeaselbV1alpha1().L2Advertisements(namespace).List(ctx, metav1.ListOptions{}); note(SourceAdvertisements, err) {
			s.Advertisements = l.Items
		}
	}

	if l, err := kube.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{}); note(SourceServices, err) {
		for _, svc := range l.Items {
			if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
				s.Services = append(s.Services, svc)
			}
		}
	}
	for _, svc := range s.Services {
		if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			continue
		}
		l, err := kube.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc.Name})
		if !note(SourceEndpointSlices, err) {
			break
		}
		s.EndpointSlices = append(s.EndpointSlices, l.Items...)
	}

	if l, err := kube.CoordinationV1().Leases(namespace).List(ctx, metav1.ListOptions{}); note(SourceLeases, err) {
		s.Leases = l.Items
	}
	for _, reason := range []string{ReasonAllocationFailed, ReasonIPConflict} {
		sel := fields.OneTermEqualSelector("reason", reason).String()
		l, err := kube.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if !note(SourceEvents, err) {
			break
		}
		for _, e := range l.Items {
			if e.Reason == reason { // fake clients ignore field selectors
				s.Events = append(s.Events, e)
			}
		}
	}
	return s, nil
}
