package convert

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leaselb/leaselb/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the current output")

func load(t *testing.T, name string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs, err := Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return objs
}

// TestFixtures converts the shapes of MetalLB's documented configurations
// and compares the YAML with testdata/*.golden (go test -update rewrites
// them; read the diff).
func TestFixtures(t *testing.T) {
	tests := []struct {
		file   string
		losses []string // substrings, one per loss, in order
		notes  []string // substrings that must be among the notes
	}{
		{file: "l2-simple.yaml"},
		{file: "advanced.yaml"},
		{
			file: "bgp.yaml",
			losses: []string{
				`BGPPeer metallb-system/sample (metallb.io/v1beta2) cannot carry over`,
				`BFDProfile metallb-system/full-bfd-profile cannot carry over`,
				`Community metallb-system/communities cannot carry over`,
				`BGPAdvertisement metallb-system/external cannot carry over`,
				`IPAddressPool "bgp-only" is announced only by a BGPAdvertisement`,
			},
		},
		{file: "legacy-layer2.yaml"},
		{
			file: "legacy-mixed.yaml",
			losses: []string{
				`ConfigMap metallb-system/config: peer 10.0.0.1 cannot carry over`,
				`bgp-community "no-advertise" cannot carry over`,
				`(address-pool "bgp-pool"): protocol bgp cannot carry over`,
			},
		},
		{
			file: "services.yaml",
			notes: []string{
				"Service default/nginx: metallb.universe.tf/address-pool=production-public-ips is read as leaselb.io/address-pool",
				"Service default/dns-service-tcp: metallb.io/loadBalancerIPs=192.168.1.148 is read as leaselb.io/loadBalancerIPs",
				"kubectl annotate service -n default dns-service-tcp leaselb.io/allow-shared-ip=key-to-share-192.168.1.148 metallb.io/allow-shared-ip-",
			},
		},
		{
			file: "services-lost.yaml",
			losses: []string{
				"Service web/other-pool: metallb.universe.tf/address-pool=dmz names a pool that is not converted",
				"Service web/outside has IP 192.168.2.7, which is in no converted pool",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			res := Convert(load(t, tt.file), Options{Namespace: "leaselb-system"})
			if len(res.Losses) != len(tt.losses) {
				t.Errorf("%d losses, want %d:\n%s", len(res.Losses), len(tt.losses), strings.Join(res.Losses, "\n"))
			}
			for i, want := range tt.losses {
				if i < len(res.Losses) && !strings.Contains(res.Losses[i], want) {
					t.Errorf("loss %d: %q\nwant it to contain %q", i, res.Losses[i], want)
				}
			}
			for _, want := range tt.notes {
				if !strings.Contains(strings.Join(res.Notes, "\n"), want) {
					t.Errorf("no note contains %q; notes:\n%s", want, strings.Join(res.Notes, "\n"))
				}
			}
			var out bytes.Buffer
			if err := WriteYAML(&out, res); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(tt.file, ".yaml")+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s:\n%s", golden, out.String())
			}
			// What convert writes must be what leaselb reads: every object
			// decodes strictly into the leaselb types.
			objs, err := Decode(&out)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if o["apiVersion"] != v1alpha1.SchemeGroupVersion.String() {
					t.Errorf("wrote %v", o["apiVersion"])
				}
			}
		})
	}
}

func obj(apiVersion, kind, name string, spec map[string]any) map[string]any {
	o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": name, "namespace": "metallb-system"}}
	if spec != nil {
		o["spec"] = spec
	}
	return o
}

func pool(name string, extra map[string]any) map[string]any {
	spec := map[string]any{"addresses": []any{"192.0.2.0/24"}}
	for k, v := range extra {
		spec[k] = v
	}
	return obj("metallb.io/v1beta1", "IPAddressPool", name, spec)
}

func l2(name string) map[string]any { return obj("metallb.io/v1beta1", "L2Advertisement", name, nil) }

// TestConvert covers what the fixtures do not: fields leaselb lacks, zero
// values, duplicates, lists, objects that are not MetalLB's.
func TestConvert(t *testing.T) {
	tests := []struct {
		name          string
		objs          []map[string]any
		pools, ads    []string
		losses, notes []string // substrings, in order
	}{
		{
			name:  "a field leaselb lacks is a loss, named by its path",
			objs:  []map[string]any{pool("p", map[string]any{"serviceAllocation": map[string]any{"priority": 1.0, "weight": 5.0}}), l2("a")},
			pools: []string{"p"}, ads: []string{"a"},
			losses: []string{"IPAddressPool metallb-system/p: field spec.serviceAllocation.weight cannot carry over"},
		},
		{
			name:  "a field leaselb lacks set to its zero value loses nothing",
			objs:  []map[string]any{pool("p", map[string]any{"someFlag": false, "someList": []any{}}), l2("a")},
			pools: []string{"p"}, ads: []string{"a"},
		},
		{
			name:   "a spec of the wrong shape is reported, not converted",
			objs:   []map[string]any{pool("p", map[string]any{"addresses": "192.0.2.0/24"}), l2("a")},
			ads:    []string{"a"},
			losses: []string{"IPAddressPool metallb-system/p: spec cannot be read"},
		},
		{
			name: "two pools of one name",
			objs: []map[string]any{pool("p", nil), l2("a"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "config"},
				"data": map[string]any{"config": "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [198.51.100.0/24]\n"}}},
			pools: []string{"p"}, ads: []string{"a", "p"},
			losses: []string{`ConfigMap config (address-pool "p"): a pool named "p" already comes from IPAddressPool metallb-system/p`},
		},
		{
			name:  "lists are flattened",
			objs:  []map[string]any{{"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPoolList", "items": []any{pool("x", nil), pool("y", nil)}}, l2("a")},
			pools: []string{"x", "y"}, ads: []string{"a"},
		},
		{
			name: "objects that are not MetalLB configuration are skipped with a note",
			objs: []map[string]any{obj("apps/v1", "Deployment", "controller", nil), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "other"}, "data": map[string]any{"x": "y"}},
				obj("metallb.io/v1beta1", "ServiceL2Status", "l2-abc", nil)},
			notes: []string{"Deployment metallb-system/controller (apps/v1) skipped", "ConfigMap other skipped", "ServiceL2Status metallb-system/l2-abc skipped"},
		},
		{
			name:   "an unknown metallb.io kind is a loss",
			objs:   []map[string]any{obj("metallb.io/v1beta1", "FutureThing", "f", nil)},
			losses: []string{"FutureThing metallb-system/f (metallb.io/v1beta1) cannot carry over"},
		},
		{
			name:  "a pool no advertisement covers is a note: MetalLB did not announce it either",
			objs:  []map[string]any{pool("quiet", nil)},
			pools: []string{"quiet"},
			notes: []string{`IPAddressPool "quiet": no L2Advertisement covers it`},
		},
		{
			name:   "a legacy ConfigMap that does not parse",
			objs:   []map[string]any{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "config"}, "data": map[string]any{"config": "address-pools:\n- name: p\n  protocl: layer2\n"}}},
			losses: []string{"ConfigMap config: data.config cannot be read as MetalLB's configuration"},
		},
		{
			name:   "a document without a kind",
			objs:   []map[string]any{{"foo": "bar"}},
			losses: []string{"a document without kind or apiVersion"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Convert(tt.objs, Options{Namespace: "leaselb-system"})
			var pools, ads []string
			for _, p := range res.Pools {
				pools = append(pools, p.Name)
				if p.Namespace != "leaselb-system" {
					t.Errorf("pool %s in namespace %q", p.Name, p.Namespace)
				}
			}
			for _, a := range res.Advertisements {
				ads = append(ads, a.Name)
			}
			if strings.Join(pools, ",") != strings.Join(tt.pools, ",") || strings.Join(ads, ",") != strings.Join(tt.ads, ",") {
				t.Errorf("pools %v ads %v, want %v %v", pools, ads, tt.pools, tt.ads)
			}
			check := func(what string, got, want []string) {
				if len(got) != len(want) {
					t.Errorf("%d %s, want %d:\n%s", len(got), what, len(want), strings.Join(got, "\n"))
					return
				}
				for i := range want {
					if !strings.Contains(got[i], want[i]) {
						t.Errorf("%s %d: %q\nwant it to contain %q", what, i, got[i], want[i])
					}
				}
			}
			check("losses", res.Losses, tt.losses)
			if tt.notes != nil {
				check("notes", res.Notes, tt.notes)
			}
		})
	}
}
