package crdcheck

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	schemavalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// loadCRD reads a generated CRD and returns it in the API server's internal
// form, defaulted as the API server would.
func loadCRD(t *testing.T, name string) *apiextensions.CustomResourceDefinition {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "manifests", "crds", name))
	if err != nil {
		t.Fatal(err)
	}
	var v1 apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &v1); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(&v1)
	var crd apiextensions.CustomResourceDefinition
	if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1, &crd, nil); err != nil {
		t.Fatal(err)
	}
	return &crd
}

func TestCRDsAreAccepted(t *testing.T) {
	for _, name := range []string{"leaselb.io_ipaddresspools.yaml", "leaselb.io_l2advertisements.yaml"} {
		t.Run(name, func(t *testing.T) {
			crd := loadCRD(t, name)
			if errs := crdvalidation.ValidateCustomResourceDefinition(context.Background(), crd); len(errs) > 0 {
				t.Fatalf("the API server would reject %s:\n%v", name, errs.ToAggregate())
			}
		})
	}
}

// schemaOf returns the CRD's schema: the internal form keeps it at the top
// level when every version shares it.
func schemaOf(crd *apiextensions.CustomResourceDefinition) *apiextensions.JSONSchemaProps {
	if crd.Spec.Validation != nil {
		return crd.Spec.Validation.OpenAPIV3Schema
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema
}

// validate runs an object through what the API server applies to a create:
// defaults, the OpenAPI schema and the CEL rules.
func validate(t *testing.T, crd *apiextensions.CustomResourceDefinition, manifest string) field.ErrorList {
	t.Helper()
	props := schemaOf(crd)
	structural, err := structuralschema.NewStructural(props)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]interface{}
	if err := yaml.Unmarshal([]byte(manifest), &obj); err != nil {
		t.Fatal(err)
	}
	structuraldefaulting.Default(obj, structural)
	validator, _, err := schemavalidation.NewSchemaValidator(props)
	if err != nil {
		t.Fatal(err)
	}
	errs := schemavalidation.ValidateCustomResource(nil, obj, validator)
	celErrs, _ := cel.NewValidator(structural, true, celconfig.PerCallLimit).
		Validate(context.Background(), nil, structural, obj, nil, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

// TestAddressGrammar runs the one table of pool entries in
// api/v1alpha1/testdata/addresses.json through the API server's validation;
// the allocator's TestParseRangeAgreesWithTheAPIGrammar runs the same table
// through allocator.ParseRange, so the two grammars cannot drift apart.
func TestAddressGrammar(t *testing.T) {
	crd := loadCRD(t, "leaselb.io_ipaddresspools.yaml")
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "api", "v1alpha1", "testdata", "addresses.json"))
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Entries []struct {
			Address    string `json:"address"`
			Want       string `json:"want"`
			APIAccepts bool   `json:"apiAccepts"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(data, &table); err != nil {
		t.Fatal(err)
	}
	for _, e := range table.Entries {
		pool := map[string]interface{}{
			"apiVersion": "leaselb.io/v1alpha1", "kind": "IPAddressPool",
			"metadata": map[string]interface{}{"name": "p", "namespace": "leaselb-system"},
			"spec":     map[string]interface{}{"addresses": []interface{}{e.Address}},
		}
		manifest, err := json.Marshal(pool) // JSON is YAML
		if err != nil {
			t.Fatal(err)
		}
		errs := validate(t, crd, string(manifest))
		msg := ""
		if len(errs) > 0 {
			msg = errs.ToAggregate().Error()
		}
		switch {
		case (e.Want == "ok" || e.APIAccepts) && msg != "":
			t.Errorf("%q: rejected: %s; the table says the API server accepts it", e.Address, msg)
		case e.Want != "ok" && !e.APIAccepts && !strings.Contains(msg, e.Want):
			t.Errorf("%q: error %q; want one containing %q", e.Address, msg, e.Want)
		}
	}
}

func TestIPAddressPoolValidation(t *testing.T) {
	crd := loadCRD(t, "leaselb.io_ipaddresspools.yaml")
	pool := func(spec string) string {
		return "apiVersion: leaselb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: p, namespace: leaselb-system}\nspec:\n" + spec
	}
	tests := []struct {
		name    string
		spec    string
		wantErr string // substring of the error; "" means valid
	}{
		{"mixed families", "  addresses: [192.0.2.0/24, '2001:db8::/120']", ""},
		{"all fields", "  addresses: [192.0.2.0/24]\n  autoAssign: false\n  avoidBuggyIPs: true\n  serviceAllocation:\n    priority: 10\n    namespaces: [web]\n    namespaceSelectors: [{matchLabels: {team: a}}]\n    serviceSelectors: [{matchExpressions: [{key: tier, operator: In, values: [front]}]}]", ""},
		{"no addresses", "  addresses: []", "should have at least 1 items"},
		{"missing addresses", "  autoAssign: true", "addresses: Required value"},
		{"priority too large", "  addresses: [192.0.2.0/24]\n  serviceAllocation: {priority: 70000}", "less than or equal to 65535"},
		{"priority negative", "  addresses: [192.0.2.0/24]\n  serviceAllocation: {priority: -1}", "greater than or equal to 0"},
		{"bad selector operator", "  addresses: [192.0.2.0/24]\n  serviceAllocation:\n    serviceSelectors: [{matchExpressions: [{key: a, operator: Equals, values: [b]}]}]", "supported values"},
		{"In without values", "  addresses: [192.0.2.0/24]\n  serviceAllocation:\n    namespaceSelectors: [{matchExpressions: [{key: a, operator: In}]}]", "need values"},
		{"Exists with values", "  addresses: [192.0.2.0/24]\n  serviceAllocation:\n    namespaceSelectors: [{matchExpressions: [{key: a, operator: Exists, values: [x]}]}]", "take none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := validate(t, crd, pool(tt.spec))
			msg := ""
			if len(errs) > 0 {
				msg = errs.ToAggregate().Error()
			}
			switch {
			case tt.wantErr == "" && msg != "":
				t.Errorf("rejected a valid pool: %s", msg)
			case tt.wantErr != "" && !strings.Contains(msg, tt.wantErr):
				t.Errorf("error %q, want one containing %q", msg, tt.wantErr)
			}
		})
	}
}

func TestIPAddressPoolDefaults(t *testing.T) {
	crd := loadCRD(t, "leaselb.io_ipaddresspools.yaml")
	structural, err := structuralschema.NewStructural(schemaOf(crd))
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]interface{}{"spec": map[string]interface{}{"addresses": []interface{}{"192.0.2.0/24"}}}
	structuraldefaulting.Default(obj, structural)
	if got := obj["spec"].(map[string]interface{})["autoAssign"]; got != true {
		t.Errorf("autoAssign defaulted to %v, want true", got)
	}
}

func TestL2AdvertisementValidation(t *testing.T) {
	crd := loadCRD(t, "leaselb.io_l2advertisements.yaml")
	adv := func(spec string) string {
		return "apiVersion: leaselb.io/v1alpha1\nkind: L2Advertisement\nmetadata: {name: a, namespace: leaselb-system}\nspec:\n" + spec
	}
	tests := []struct {
		name    string
		spec    string
		wantErr string
	}{
		{"empty covers every pool", "  {}", ""},
		{"walkthrough", "  ipAddressPools: [first-pool]", ""},
		{"everything", "  ipAddressPools: [a]\n  ipAddressPoolSelectors: [{matchLabels: {x: z}}]\n  nodeSelectors: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [node-a]}]}]\n  interfaces: [eth0, bond0.100]", ""},
		{"interface with a slash", "  interfaces: [eth0/1]", "should match"},
		{"interface name too long", "  interfaces: [averyveryverylongname]", "may not be more than 15"},
		{"bad node selector", "  nodeSelectors: [{matchExpressions: [{key: a, operator: Gt, values: ['1']}]}]", "supported values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := validate(t, crd, adv(tt.spec))
			msg := ""
			if len(errs) > 0 {
				msg = errs.ToAggregate().Error()
			}
			switch {
			case tt.wantErr == "" && msg != "":
				t.Errorf("rejected a valid advertisement: %s", msg)
			case tt.wantErr != "" && !strings.Contains(msg, tt.wantErr):
				t.Errorf("error %q, want one containing %q", msg, tt.wantErr)
			}
		})
	}
}
