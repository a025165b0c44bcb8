package crdcheck

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
)

// filter matches the one JSONPath filter the columns use,
// [?(@.type=="Valid")], and captures the field it tests.
var filter = regexp.MustCompile(`\[\?\(@\.(\w+)=="[^"]*"\)\]`)

// resolve reports whether a printer column's JSONPath names a field of the
// schema: a renamed status field would otherwise leave an empty column,
// which the API server accepts silently.
func resolve(schema *apiextensions.JSONSchemaProps, path string) (ok bool, why string) {
	if strings.HasPrefix(path, ".metadata.") {
		return true, "" // ObjectMeta: not in the CRD's schema, always there
	}
	marked := filter.ReplaceAllString(path, "[$1]")
	s := schema
	for _, seg := range strings.Split(strings.TrimPrefix(marked, "."), ".") {
		name, test, isArray := strings.Cut(seg, "[")
		p, found := s.Properties[name]
		if !found {
			return false, "no field " + name
		}
		s = &p
		if isArray {
			if s.Items == nil || s.Items.Schema == nil {
				return false, name + " is not a list"
			}
			s = s.Items.Schema
			if _, found := s.Properties[strings.TrimSuffix(test, "]")]; !found {
				return false, name + " items have no field " + strings.TrimSuffix(test, "]")
			}
		}
	}
	return true, ""
}

func TestPrinterColumns(t *testing.T) {
	tests := []struct {
		crd  string
		want []string // columns that must be there, in this order
	}{
		{"leaselb.io_ipaddresspools.yaml", []string{"Addresses", "Auto Assign", "Assigned IPv4", "Available IPv4",
			"Assigned IPv6", "Available IPv6", "Valid", "Advertised", "Age"}},
		{"leaselb.io_l2advertisements.yaml", []string{"Pools", "Interfaces", "Valid", "Age"}},
	}
	for _, tt := range tests {
		t.Run(tt.crd, func(t *testing.T) {
			crd := loadCRD(t, tt.crd)
			cols := crd.Spec.AdditionalPrinterColumns
			if len(cols) == 0 && len(crd.Spec.Versions) > 0 {
				cols = crd.Spec.Versions[0].AdditionalPrinterColumns
			}
			var names []string
			for _, c := range cols {
				names = append(names, c.Name)
				if ok, why := resolve(schemaOf(crd), c.JSONPath); !ok {
					t.Errorf("column %q: JSONPath %s names nothing in the schema (%s); fix the printcolumn marker in api/v1alpha1/types.go", c.Name, c.JSONPath, why)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("columns %q, want %q", names, tt.want)
			}
		})
	}
}
