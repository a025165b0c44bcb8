package convert

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"sigs.k8s.io/yaml"

	"github.com/leaselb/leaselb/api/v1alpha1"
)

// legacyConfig is the configuration MetalLB read from its ConfigMap up to
// 0.12: the document under data.config.
type legacyConfig struct {
	Peers          []map[string]any  `json:"peers"`
	BGPCommunities map[string]string `json:"bgp-communities"`
	AddressPools   []legacyPool      `json:"address-pools"`
	BFDProfiles    []map[string]any  `json:"bfd-profiles"`
}

type legacyPool struct {
	Name              string           `json:"name"`
	Protocol          string           `json:"protocol"`
	Addresses         []string         `json:"addresses"`
	AutoAssign        *bool            `json:"auto-assign"`
	AvoidBuggyIPs     bool             `json:"avoid-buggy-ips"`
	BGPAdvertisements []map[string]any `json:"bgp-advertisements"`
}

// configMap converts MetalLB's legacy ConfigMap; other ConfigMaps are
// skipped. A layer2 pool was announced from every node then, so each gets
// an L2Advertisement of the same name that covers it alone.
func (c *converter) configMap(obj map[string]any) {
	what := describe(obj)
	data, _ := obj["data"].(map[string]any)
	raw, ok := data[legacyConfigKey].(string)
	if !ok {
		c.note("%s skipped: no data.%s, so not MetalLB's legacy configuration", what, legacyConfigKey)
		return
	}
	var cfg legacyConfig
	if err := yaml.UnmarshalStrict([]byte(raw), &cfg); err != nil {
		if bytes.Contains([]byte(raw), []byte("address-pools")) || bytes.Contains([]byte(raw), []byte("peers")) {
			c.lose("%s: data.%s cannot be read as MetalLB's configuration (%v); fix it, or convert its pools by hand", what, legacyConfigKey, err)
		} else {
			c.note("%s skipped: data.%s is not MetalLB's configuration", what, legacyConfigKey)
		}
		return
	}
	for _, p := range cfg.Peers {
		c.lose("%s: peer %v cannot carry over: leaselb does not speak BGP", what, p["peer-address"])
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.BGPCommunities)) {
		c.lose("%s: bgp-community %q cannot carry over: BGP communities have no meaning in layer-2 mode", what, name)
	}
	for _, p := range cfg.BFDProfiles {
		c.lose("%s: bfd-profile %v cannot carry over: BFD serves BGP sessions, which leaselb does not have", what, p["name"])
	}
	for _, lp := range cfg.AddressPools {
		from := fmt.Sprintf("%s (address-pool %q)", what, lp.Name)
		switch lp.Protocol {
		case "layer2":
			if len(lp.BGPAdvertisements) > 0 {
				c.lose("%s: bgp-advertisements cannot carry over: leaselb announces only on layer 2", from)
			}
		case "bgp":
			c.lose("%s: protocol bgp cannot carry over: leaselb announces only on layer 2; move the pool to protocol layer2 by hand if its addresses are on the nodes' LAN", from)
			continue
		default:
			c.lose("%s: protocol %q is unknown; MetalLB took layer2 or bgp", from, lp.Protocol)
			continue
		}
		if lp.Name == "" || len(lp.Addresses) == 0 {
			c.lose("%s: a pool needs a name and addresses; fix the ConfigMap", from)
			continue
		}
		p := &v1alpha1.IPAddressPool{}
		p.Name = lp.Name
		p.Spec.AutoAssign = lp.AutoAssign
		p.Spec.AvoidBuggyIPs = lp.AvoidBuggyIPs
		for _, a := range lp.Addresses {
			p.Spec.Addresses = append(p.Spec.Addresses, v1alpha1.AddressRange(a))
		}
		c.addPool(p, from)
		ad := &v1alpha1.L2Advertisement{}
		ad.Name = lp.Name
		ad.Spec.IPAddressPools = []string{lp.Name}
		c.addAdvertisement(ad, from)
	}
}
