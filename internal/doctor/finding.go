package doctor

import "slices"

// A Severity says how bad a Finding is.
type Severity string

// Severities, from good to bad.
const (
	// OK: the check passed.
	OK Severity = "ok"
	// Warn: possibly wrong, or doctor could not tell; leaselb may still work.
	Warn Severity = "warn"
	// Fail: something that breaks load balancing for some Service.
	Fail Severity = "fail"
)

// A Finding is one verdict of one check.
type Finding struct {
	// Check is the stable name of the check that made the finding
	// ("kube-proxy", "pool-subnet", ...), for scripts.
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	// Object names what the finding is about, Kind namespace/name
	// ("IPAddressPool leaselb-system/first-pool"); empty for the cluster.
	Object string `json:"object,omitempty"`
	// Message says what doctor saw, for a person.
	Message string `json:"message"`
	// Fix says what to change, as commands or edits, when there is one.
	Fix string `json:"fix,omitempty"`
}

// Options tune the checks.
type Options struct {
	// SubnetBitsV4 and SubnetBitsV6 are the prefix lengths doctor assumes
	// for the nodes' subnets when it checks that a pool is on-link (a Node
	// object does not carry its prefix length). Zero means 24 and 64.
	SubnetBitsV4, SubnetBitsV6 int
	// RequireClass is the controller's --require-class: Services without
	// spec.loadBalancerClass are not leaselb's.
	RequireClass bool
}

func (o Options) withDefaults() Options {
	if o.SubnetBitsV4 <= 0 || o.SubnetBitsV4 > 32 {
		o.SubnetBitsV4 = 24
	}
	if o.SubnetBitsV6 <= 0 || o.SubnetBitsV6 > 128 {
		o.SubnetBitsV6 = 64
	}
	return o
}

// A Check is one named check over a Snapshot.
type Check struct {
	// Name is Finding.Check of its findings.
	Name string
	// Summary says what it checks, for --help and docs.
	Summary string
	run     func(*Snapshot, Options) []Finding
}

// Checks are every check, in the order Run runs them and reports them.
var Checks = []Check{
	{"kube-proxy", "kube-proxy in IPVS mode has strictARP enabled", checkKubeProxy},
	{"crds", "the IPAddressPool and L2Advertisement CRDs are installed", checkCRDs},
	{"controller", "a controller replica is running and leading", checkController},
	{"speakers", "a speaker runs on every node that may announce", checkSpeakers},
	{"exclude-label", "not every node with a speaker is excluded from load balancing (kubeadm's control-plane label)", checkExcludeLabel},
	{"pools", "there are pools, and the controller finds them valid", checkPools},
	{"pool-subnet", "every pool is in the subnet of some node's address", checkPoolSubnets},
	{"advertisements", "every pool is covered by an L2Advertisement that selects a node", checkAdvertisements},
	{"service-ip", "every LoadBalancer Service of leaselb's has an IP, or why not", checkServiceIPs},
	{"vip-holder", "every VIP has a holder whose node lease is fresh", checkVIPHolders},
	{"ip-conflict", "no speaker reported another host answering for a VIP", checkConflicts},
}

// Run runs every check over s and returns the findings in check order.
func Run(s *Snapshot, opts Options) []Finding {
	opts = opts.withDefaults()
	var out []Finding
	for _, c := range Checks {
		out = append(out, c.run(s, opts)...)
	}
	return out
}

// Worst returns the worst severity among findings (OK when there are none).
func Worst(findings []Finding) Severity {
	order := []Severity{OK, Warn, Fail}
	worst := 0
	for _, f := range findings {
		if i := slices.Index(order, f.Severity); i > worst {
			worst = i
		}
	}
	return order[worst]
}

// Count returns how many findings have severity sev.
func Count(findings []Finding, sev Severity) int {
	n := 0
	for _, f := range findings {
		if f.Severity == sev {
			n++
		}
	}
	return n
}
