package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/leaselb/leaselb/allocator"
	"github.com/leaselb/leaselb/api/v1alpha1"
	"github.com/leaselb/leaselb/internal/controller"
)

// MetalLB's API groups.
const (
	groupMetalLB = "metallb.io"
	// legacyConfigKey is the data key of MetalLB's ConfigMap (≤ 0.12).
	legacyConfigKey = "config"
)

// Options are the choices of the person converting.
type Options struct {
	// Namespace of the leaselb objects written (leaselb-system).
	Namespace string
}

// A Result is the converted configuration and what was found on the way.
type Result struct {
	Pools          []*v1alpha1.IPAddressPool
	Advertisements []*v1alpha1.L2Advertisement
	// Losses are what leaselb cannot carry over: applying Pools and
	// Advertisements as they are would lose them. Each names the object and
	// what to do.
	Losses []string
	// Notes are what a person should know but loses nothing: objects that
	// are not MetalLB configuration, and how Services' MetalLB annotations
	// will be read.
	Notes []string
}

// Convert converts MetalLB objects, decoded into plain maps (YAML files or
// the dynamic client's unstructured objects). Lists (kind: List, and
// kubectl's XxxList) are flattened.
func Convert(objs []map[string]any, o Options) Result {
	c := &converter{opts: o, poolSeen: map[string]string{}, adSeen: map[string]string{}}
	for _, obj := range flatten(objs) {
		c.object(obj)
	}
	c.checkCoverage()
	c.checkServices()
	slices.SortFunc(c.res.Pools, func(a, b *v1alpha1.IPAddressPool) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.res.Advertisements, func(a, b *v1alpha1.L2Advertisement) int { return strings.Compare(a.Name, b.Name) })
	return c.res
}

type converter struct {
	opts Options
	res  Result
	// poolSeen and adSeen map a converted name to the object it came from,
	// to report two sources of one name.
	poolSeen, adSeen map[string]string
	// bgpAds are MetalLB's BGPAdvertisements (and the legacy BGP pools'
	// names), to tell a pool announced only over BGP from one never announced.
	bgpAds   []*v1alpha1.L2Advertisement
	bgpPools map[string]bool
	services []*corev1.Service
}

func flatten(objs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, o := range objs {
		if items, ok := o["items"].([]any); ok && strings.HasSuffix(str(o["kind"]), "List") {
			var inner []map[string]any
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					inner = append(inner, m)
				}
			}
			out = append(out, flatten(inner)...)
			continue
		}
		out = append(out, o)
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

// describe names an object for a person: Kind namespace/name.
func describe(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	name := str(md["name"])
	if ns := str(md["namespace"]); ns != "" {
		name = ns + "/" + name
	}
	return str(obj["kind"]) + " " + name
}

func (c *converter) lose(format string, args ...any) {
	c.res.Losses = append(c.res.Losses, fmt.Sprintf(format, args...))
}

func (c *converter) note(format string, args ...any) {
	c.res.Notes = append(c.res.Notes, fmt.Sprintf(format, args...))
}

func (c *converter) object(obj map[string]any) {
	apiVersion, kind := str(obj["apiVersion"]), str(obj["kind"])
	group, version, found := strings.Cut(apiVersion, "/")
	if !found {
		group, version = "", apiVersion
	}
	switch {
	case group == groupMetalLB:
		c.metallb(obj, version, kind)
	case group == "" && kind == "ConfigMap":
		c.configMap(obj)
	case group == "" && kind == "Service":
		var s corev1.Service
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &s); err != nil {
			c.lose("%s: cannot be read (%v); fix the file or leave the object out", describe(obj), err)
			return
		}
		c.services = append(c.services, &s)
	case kind == "":
		c.lose("a document without kind or apiVersion cannot be read; fix the file or leave it out")
	default:
		c.note("%s (%s) skipped: not MetalLB configuration", describe(obj), apiVersion)
	}
}

func (c *converter) metallb(obj map[string]any, version, kind string) {
	what := describe(obj)
	switch kind {
	case "IPAddressPool":
		var p v1alpha1.IPAddressPool
		if !c.spec(obj, &p.Spec) {
			return
		}
		p.Name, p.Labels = meta(obj)
		c.addPool(&p, what)
	case "L2Advertisement":
		var ad v1alpha1.L2Advertisement
		if !c.spec(obj, &ad.Spec) {
			return
		}
		ad.Name, ad.Labels = meta(obj)
		c.addAdvertisement(&ad, what)
	case "BGPAdvertisement":
		// Kept to tell pools announced only over BGP; the fields that say
		// which pools match L2Advertisement's.
		spec, _ := obj["spec"].(map[string]any)
		var ad v1alpha1.L2Advertisement
		ad.Spec.IPAddressPools = strs(spec["ipAddressPools"])
		if sels, ok := spec["ipAddressPoolSelectors"]; ok {
			data, _ := json.Marshal(sels)
			_ = json.Unmarshal(data, &ad.Spec.IPAddressPoolSelectors)
		}
		c.bgpAds = append(c.bgpAds, &ad)
		c.lose("%s cannot carry over: leaselb announces only on layer 2 (ARP/NDP), not over BGP", what)
	case "BGPPeer":
		c.lose("%s (metallb.io/%s) cannot carry over: leaselb does not speak BGP", what, version)
	case "Community":
		c.lose("%s cannot carry over: BGP communities have no meaning in layer-2 mode", what)
	case "BFDProfile":
		c.lose("%s cannot carry over: BFD serves BGP sessions, which leaselb does not have", what)
	case "ServiceL2Status", "ServiceBGPStatus":
		c.note("%s skipped: MetalLB's own status; leaselb records the announcing node in its Leases and Events", what)
	default:
		c.lose("%s (metallb.io/%s) cannot carry over: leaselb has nothing like it", what, version)
	}
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// meta returns the name and labels kept from a MetalLB object: labels
// matter, since ipAddressPoolSelectors select pools by them.
func meta(obj map[string]any) (string, map[string]string) {
	md, _ := obj["metadata"].(map[string]any)
	var ls map[string]string
	if m, ok := md["labels"].(map[string]any); ok && len(m) > 0 {
		ls = map[string]string{}
		for k, v := range m {
			ls[k] = str(v)
		}
	}
	return str(md["name"]), ls
}

// spec decodes obj's spec into out and reports every field leaselb does not
// have as a loss (a field set to its zero value loses nothing).
func (c *converter) spec(obj map[string]any, out any) bool {
	spec, _ := obj["spec"].(map[string]any)
	data, err := json.Marshal(spec)
	if err == nil {
		err = json.Unmarshal(data, out)
	}
	if err != nil {
		c.lose("%s: spec cannot be read (%v); fix it or leave the object out", describe(obj), err)
		return false
	}
	back, _ := json.Marshal(out)
	var kept map[string]any
	_ = json.Unmarshal(back, &kept)
	for _, f := range dropped("spec", spec, kept) {
		c.lose("%s: field %s cannot carry over: leaselb has no such field", describe(obj), f)
	}
	return true
}

// dropped lists the paths of fields of orig that kept lacks and that are
// not zero values.
func dropped(path string, orig, kept map[string]any) []string {
	var out []string
	keys := make([]string, 0, len(orig))
	for k := range orig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := orig[k]
		kv, ok := kept[k]
		switch {
		case !ok && !zero(v):
			out = append(out, path+"."+k)
		case ok:
			om, ok1 := v.(map[string]any)
			km, ok2 := kv.(map[string]any)
			if ok1 && ok2 {
				out = append(out, dropped(path+"."+k, om, km)...)
			}
			ol, ok1 := v.([]any)
			kl, ok2 := kv.([]any)
			if ok1 && ok2 && len(ol) == len(kl) {
				for i := range ol {
					om, ok1 := ol[i].(map[string]any)
					km, ok2 := kl[i].(map[string]any)
					if ok1 && ok2 {
						out = append(out, dropped(fmt.Sprintf("%s.%s[%d]", path, k, i), om, km)...)
					}
				}
			}
		}
	}
	return out
}

func zero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func (c *converter) addPool(p *v1alpha1.IPAddressPool, from string) {
	if prev, dup := c.poolSeen[p.Name]; dup {
		c.lose("%s: a pool named %q already comes from %s; leaselb pools share one namespace, so rename one of them", from, p.Name, prev)
		return
	}
	c.poolSeen[p.Name] = from
	p.APIVersion, p.Kind = v1alpha1.SchemeGroupVersion.String(), "IPAddressPool"
	p.Namespace = c.opts.Namespace
	c.res.Pools = append(c.res.Pools, p)
}

func (c *converter) addAdvertisement(ad *v1alpha1.L2Advertisement, from string) {
	if prev, dup := c.adSeen[ad.Name]; dup {
		c.lose("%s: an L2Advertisement named %q already comes from %s; rename one of them", from, ad.Name, prev)
		return
	}
	c.adSeen[ad.Name] = from
	ad.APIVersion, ad.Kind = v1alpha1.SchemeGroupVersion.String(), "L2Advertisement"
	ad.Namespace = c.opts.Namespace
	c.res.Advertisements = append(c.res.Advertisements, ad)
}

// covered reports whether any of ads covers p, as the speaker decides it.
func covered(p *v1alpha1.IPAddressPool, ads []*v1alpha1.L2Advertisement) bool {
	for _, ad := range ads {
		sels, err := v1alpha1.Selectors(ad.Spec.IPAddressPoolSelectors)
		if err != nil {
			sels = []labels.Selector{labels.Nothing()}
		}
		if ad.Covers(p, sels) {
			return true
		}
	}
	return false
}

// checkCoverage finds pools MetalLB announced only over BGP: leaselb would
// hand out their IPs and announce them nowhere.
// Such a pool is left out: its Services' IPs are then reported as lost.
func (c *converter) checkCoverage() {
	kept := c.res.Pools[:0]
	for _, p := range c.res.Pools {
		switch {
		case covered(p, c.res.Advertisements):
		case covered(p, c.bgpAds):
			c.lose("IPAddressPool %q is announced only by a BGPAdvertisement in MetalLB, so it is left out: leaselb would assign its IPs and announce them nowhere. If its addresses are on the nodes' LAN, add an L2Advertisement for it in MetalLB's configuration and convert again", p.Name)
			delete(c.poolSeen, p.Name)
			continue
		default:
			c.note("IPAddressPool %q: no L2Advertisement covers it (in MetalLB neither); its IPs are assigned but not announced", p.Name)
		}
		kept = append(kept, p)
	}
	c.res.Pools = kept
}

// checkServices says what leaselb makes of each Service's MetalLB
// annotations, and finds Services that would lose their IP.
func (c *converter) checkServices() {
	slices.SortFunc(c.services, func(a, b *corev1.Service) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	var ranges [][2]netip.Addr
	for _, p := range c.res.Pools {
		for _, a := range p.Spec.Addresses {
			if first, last, err := allocator.ParseRange(string(a)); err == nil {
				ranges = append(ranges, [2]netip.Addr{first, last})
			}
		}
	}
	for _, s := range c.services {
		key := s.Namespace + "/" + s.Name
		for _, a := range controller.MetalLBAnnotations(s) {
			switch {
			case a.Ignored:
				c.note("Service %s: %s is ignored because %s is set too", key, a.Name, a.Leaselb)
			case a.Leaselb == v1alpha1.AnnotationAddressPool && !c.hasPool(a.Value):
				c.lose("Service %s: %s=%s names a pool that is not converted; convert that pool too, or change the annotation", key, a.Name, a.Value)
			default:
				c.note("Service %s: %s=%s is read as %s (rename it once MetalLB is gone: kubectl annotate service -n %s %s %s=%s %s-)",
					key, a.Name, a.Value, a.Leaselb, s.Namespace, s.Name, a.Leaselb, a.Value, a.Name)
			}
		}
		if s.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		if cl := s.Spec.LoadBalancerClass; cl != nil && *cl != v1alpha1.LoadBalancerClass {
			c.note("Service %s has spec.loadBalancerClass %q: leaselb leaves it alone (the field cannot be changed; recreate the Service with %s to move it)",
				key, *cl, v1alpha1.LoadBalancerClass)
			continue
		}
		for _, ing := range s.Status.LoadBalancer.Ingress {
			ip, err := netip.ParseAddr(ing.IP)
			if err != nil {
				continue
			}
			if !inRanges(ip, ranges) {
				c.lose("Service %s has IP %s, which is in no converted pool: leaselb would give it another IP; convert the pool that holds it", key, ip)
			}
		}
	}
}

func (c *converter) hasPool(name string) bool {
	_, ok := c.poolSeen[name]
	return ok
}

func inRanges(ip netip.Addr, ranges [][2]netip.Addr) bool {
	ip = ip.Unmap()
	for _, r := range ranges {
		if r[0].BitLen() == ip.BitLen() && r[0].Compare(ip) <= 0 && ip.Compare(r[1]) <= 0 {
			return true
		}
	}
	return false
}

// WriteYAML writes the converted objects as a YAML stream that `kubectl
// apply -f -` takes: pools first, then advertisements, without status.
func WriteYAML(w io.Writer, r Result) error {
	var docs []any
	for _, p := range r.Pools {
		docs = append(docs, object(p.APIVersion, p.Kind, p.Name, p.Namespace, p.Labels, p.Spec))
	}
	for _, ad := range r.Advertisements {
		docs = append(docs, object(ad.APIVersion, ad.Kind, ad.Name, ad.Namespace, ad.Labels, ad.Spec))
	}
	for _, d := range docs {
		data, err := yaml.Marshal(d)
		if err != nil {
			return fmt.Errorf("convert: %w", err)
		}
		if _, err := fmt.Fprintf(w, "---\n%s", data); err != nil {
			return err
		}
	}
	return nil
}

// object is what WriteYAML prints of one object: no status, no empty
// metadata fields.
func object(apiVersion, kind, name, namespace string, labels map[string]string, spec any) map[string]any {
	md := map[string]any{"name": name, "namespace": namespace}
	if len(labels) > 0 {
		md["labels"] = labels
	}
	o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md}
	data, _ := json.Marshal(spec)
	var s map[string]any
	_ = json.Unmarshal(data, &s)
	if len(s) > 0 {
		o["spec"] = s
	}
	return o
}

// Decode reads a YAML or JSON stream (what `kubectl get -o yaml` prints, or
// files written for `kubectl apply -f`) into objects for Convert. Empty and
// comment-only documents are skipped.
func Decode(r io.Reader) ([]map[string]any, error) {
	d := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []map[string]any
	for {
		var obj map[string]any
		if err := d.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("document %d: %w", len(out)+1, err)
		}
		if len(obj) > 0 {
			out = append(out, obj)
		}
	}
}
