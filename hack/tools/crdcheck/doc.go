// Package crdcheck holds tests that run leaselb's generated CRDs through the
// API server's own code: CRD validation (which compiles every CEL rule and
// checks its estimated cost) and object validation (OpenAPI schema, defaults
// and CEL rules), so a schema mistake fails `make test` without a cluster.
// It lives in the tools module because it needs k8s.io/apiextensions-apiserver,
// which the product itself must not depend on.
package crdcheck
