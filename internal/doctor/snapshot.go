package doctor

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/leaselb/leaselb/api/v1alpha1"
)

// Names doctor looks for; they match manifests/leaselb.yaml and the
// daemons' fixed names.
const (
	// KubeProxyNamespace and KubeProxyConfigMap locate the kube-proxy
	// configuration kubeadm installs.
	KubeProxyNamespace = "kube-system"
	KubeProxyConfigMap = "kube-proxy"
	// SpeakerDaemonSet and ControllerDeployment are the workloads of the
	// install manifest, in the leaselb namespace.
	SpeakerDaemonSet     = "speaker"
	ControllerDeployment = "controller"
	// ControllerLease is the controller's leader-election Lease.
	ControllerLease = "leaselb-controller"
	// ComponentLabel selects leaselb's pods by component (speaker,
	// controller).
	ComponentLabel = "app.kubernetes.io/component"
	// ReasonAllocationFailed and ReasonIPConflict are the Event reasons
	// doctor reads (written by the controller and the speaker).
	ReasonAllocationFailed = "AllocationFailed"
	ReasonIPConflict       = "IPConflict"
)

// A Snapshot is everything the checks look at, read once from the cluster.
// A nil or empty field means the object does not exist; a source that could
// not be read at all is recorded in Errors instead, so a check can tell "not
// there" from "not allowed to look".
type Snapshot struct {
	// Namespace is leaselb's namespace (pools, advertisements, Leases).
	Namespace string
	// Now is the API server's clock when the snapshot was taken (from the
	// Date header of a response), so Lease ages are judged on the clock the
	// Leases' writers are supposed to agree with, not on this machine's.
	Now time.Time

	// KubeProxy is the kube-system/kube-proxy ConfigMap, nil when absent.
	KubeProxy *corev1.ConfigMap
	// Resources are the leaselb.io/v1alpha1 resources the API server
	// serves, by plural name ("ipaddresspools", "l2advertisements").
	Resources map[string]bool

	Nodes      []corev1.Node
	Speaker    *appsv1.DaemonSet
	Controller *appsv1.Deployment
	// Pods are leaselb's pods in Namespace (speakers and controllers).
	Pods []corev1.Pod

	Pools          []v1alpha1.IPAddressPool
	Advertisements []v1alpha1.L2Advertisement
	// Services are the Services of type LoadBalancer, in every namespace.
	Services []corev1.Service
	// EndpointSlices of the externalTrafficPolicy: Local Services above.
	EndpointSlices []discoveryv1.EndpointSlice
	// Leases are the Leases in Namespace: node and VIP leases, and the
	// controller's.
	Leases []coordinationv1.Lease
	// Events are the AllocationFailed and IPConflict Events, every namespace.
	Events []corev1.Event

	// Errors holds, by source name (see the Source constants), why a source
	// could not be read.
	Errors map[string]string
}

// Source names, the keys of Snapshot.Errors.
const (
	SourceKubeProxy      = "kube-proxy"
	SourceResources      = "crds"
	SourceNodes          = "nodes"
	SourceSpeaker        = "speaker"
	SourceController     = "controller"
	SourcePods           = "pods"
	SourcePools          = "pools"
	SourceAdvertisements = "advertisements"
	SourceServices       = "services"
	SourceEndpointSlices = "endpointslices"
	SourceLeases         = "leases"
	SourceEvents         = "events"
)
