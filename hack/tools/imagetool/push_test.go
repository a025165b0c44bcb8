package main

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestPush pushes a built layout to an in-process registry and reads it
// back: the index and every platform's manifest keep their digests.
func TestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	dir := buildLayout(t, testSpec(t, "leaselb", allPlatforms...))
	local, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := local.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	built := top.Manifests[0].Digest
	localIdx, err := local.ImageIndex(built)
	if err != nil {
		t.Fatal(err)
	}
	localManifest, err := localIdx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		dir     string
		ref     string
		wantErr string
	}{
		{name: "to a tag", dir: dir, ref: u.Host + "/leaselb:v0.1.0"},
		{name: "to another repository", dir: dir, ref: u.Host + "/mirror/leaselb:latest"},
		{name: "no tag", dir: dir, ref: u.Host + "/leaselb", wantErr: "registry/repository:tag"},
		{name: "no layout", dir: filepath.Join(t.TempDir(), "none"), ref: u.Host + "/leaselb:v1", wantErr: "make image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Push(context.Background(), tt.dir, tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d != built {
				t.Errorf("Push returned %s, the layout holds %s", d, built)
			}
			ref, err := name.ParseReference(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			remoteIdx, err := remote.Index(ref)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := remoteIdx.Digest(); got != built {
				t.Errorf("registry's index %s, built %s", got, built)
			}
			rm, err := remoteIdx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(rm.Manifests) != len(localManifest.Manifests) {
				t.Fatalf("registry's index has %d manifests, want %d", len(rm.Manifests), len(localManifest.Manifests))
			}
			for i, want := range localManifest.Manifests {
				img, err := remote.Image(ref.Context().Digest(want.Digest.String()))
				if err != nil {
					t.Fatalf("manifest %s (%s) not in the registry: %v", want.Digest, want.Platform, err)
				}
				if got, _ := img.Digest(); got != want.Digest || rm.Manifests[i].Digest != want.Digest {
					t.Errorf("%s: registry has %s, built %s", want.Platform, got, want.Digest)
				}
				// The layers too: pulling the config proves the blobs are there.
				if _, err := img.ConfigFile(); err != nil {
					t.Errorf("%s: config: %v", want.Platform, err)
				}
			}
		})
	}
}

func TestMain(m *testing.M) {
	// The default keychain reads ~/.docker/config.json; keep the tests off
	// whatever the machine has.
	os.Setenv("DOCKER_CONFIG", os.TempDir()+"/imagetool-test-no-docker-config")
	os.Exit(m.Run())
}
