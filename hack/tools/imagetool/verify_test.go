package main

import (
	"archive/tar"
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// entry is one file of a hand-made layer.
type entry struct {
	name     string
	mode     int64
	uid      int
	typeflag byte
	data     []byte
}

// withLayer rebuilds img (keeping its config) with one layer of entries.
func withLayer(t *testing.T, img v1.Image, entries ...entry) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Typeflag: e.typeflag, Name: e.name, Mode: e.mode, Uid: e.uid, Size: int64(len(e.data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs, cf.History = nil, nil
	out, err := mutate.ConfigFile(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), cf)
	if err != nil {
		t.Fatal(err)
	}
	out, err = mutate.AppendLayers(out, layer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func editConfig(t *testing.T, img v1.Image, edit func(*v1.ConfigFile)) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	edit(cf)
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// replacePlatform swaps the image of platform p in idx for edit's result.
func replacePlatform(t *testing.T, idx v1.ImageIndex, p string, edit func(v1.Image) v1.Image) v1.ImageIndex {
	t.Helper()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Platform.String() != p {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		plat := *d.Platform
		return mutate.AppendManifests(mutate.RemoveManifests(idx, match.Digests(d.Digest)),
			mutate.IndexAddendum{Add: edit(img), Descriptor: v1.Descriptor{Platform: &plat}})
	}
	t.Fatalf("index has no %s image", p)
	return nil
}

func TestVerify(t *testing.T) {
	const bin = "/usr/local/bin/leaselb"
	amd64ELF := elfFor(t, mustPlatform(t, "linux/amd64"))
	arm64ELF := elfFor(t, mustPlatform(t, "linux/arm64"))
	dirs := []entry{
		{name: "usr/", mode: 0o755, typeflag: tar.TypeDir},
		{name: "usr/local/", mode: 0o755, typeflag: tar.TypeDir},
		{name: "usr/local/bin/", mode: 0o755, typeflag: tar.TypeDir},
	}
	layer := func(extra ...entry) func(t *testing.T, img v1.Image) v1.Image {
		return func(t *testing.T, img v1.Image) v1.Image { return withLayer(t, img, append(dirs, extra...)...) }
	}
	tests := []struct {
		name    string
		amd64   func(t *testing.T, img v1.Image) v1.Image // edits the linux/amd64 image
		ref     string                                    // written as the layout's name; "" = the spec's
		extra   string                                    // a platform the Want adds
		wantErr string                                    // "" = valid
		// dropDigestName removes the index.json entry that names the index by digest.
		dropDigestName bool
	}{
		{name: "as built"},
		{name: "hand-made layer like the built one", amd64: layer(entry{name: bin[1:], mode: 0o755, typeflag: tar.TypeReg, data: amd64ELF})},
		{name: "imported under another name", ref: "ghcr.io/leaselb/leaselb:other", wantErr: `entry with io.containerd.image.name "ghcr.io/leaselb/leaselb:v0.1.0"`},
		{name: "not named by digest", dropDigestName: true, wantErr: "entry with io.containerd.image.name \"ghcr.io/leaselb/leaselb@sha256:"},
		{name: "a platform missing", extra: "linux/s390x", wantErr: "platforms"},
		{name: "root user", amd64: func(t *testing.T, img v1.Image) v1.Image {
			return editConfig(t, img, func(c *v1.ConfigFile) { c.Config.User = "0" })
		}, wantErr: `user "0"`},
		{name: "other entrypoint", amd64: func(t *testing.T, img v1.Image) v1.Image {
			return editConfig(t, img, func(c *v1.ConfigFile) { c.Config.Entrypoint = []string{"/leaselb"} })
		}, wantErr: "entrypoint"},
		{name: "no version label", amd64: func(t *testing.T, img v1.Image) v1.Image {
			return editConfig(t, img, func(c *v1.ConfigFile) { delete(c.Config.Labels, LabelVersion) })
		}, wantErr: "no label " + LabelVersion},
		{name: "config of another architecture", amd64: func(t *testing.T, img v1.Image) v1.Image {
			return editConfig(t, img, func(c *v1.ConfigFile) { c.Architecture = "arm64" })
		}, wantErr: "config says linux/arm64"},
		{name: "docker media type", amd64: func(t *testing.T, img v1.Image) v1.Image {
			return mutate.MediaType(img, types.DockerManifestSchema2)
		}, wantErr: "media type"},
		{name: "a second layer", amd64: func(t *testing.T, img v1.Image) v1.Image {
			ls, err := withLayer(t, img, entry{name: "etc/passwd", mode: 0o644, typeflag: tar.TypeReg}).Layers()
			if err != nil {
				t.Fatal(err)
			}
			out, err := mutate.AppendLayers(img, ls[0])
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, wantErr: "2 layers"},
		{name: "binary not executable by the user", amd64: layer(entry{name: bin[1:], mode: 0o644, typeflag: tar.TypeReg, data: amd64ELF}), wantErr: "mode 644"},
		{name: "binary not root-owned", amd64: layer(entry{name: bin[1:], mode: 0o755, uid: 1000, typeflag: tar.TypeReg, data: amd64ELF}), wantErr: "owned by 1000"},
		{name: "binary elsewhere", amd64: layer(entry{name: "leaselb", mode: 0o755, typeflag: tar.TypeReg, data: amd64ELF}), wantErr: "no " + bin},
		{name: "another file", amd64: layer(entry{name: bin[1:], mode: 0o755, typeflag: tar.TypeReg, data: amd64ELF}, entry{name: "etc/passwd", mode: 0o644, typeflag: tar.TypeReg}), wantErr: "unexpected /etc/passwd"},
		{name: "binary of another architecture", amd64: layer(entry{name: bin[1:], mode: 0o755, typeflag: tar.TypeReg, data: arm64ELF}), wantErr: "GOARCH=amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(t, "leaselb", allPlatforms...)
			idx, ref, err := Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			if tt.amd64 != nil {
				idx = replacePlatform(t, idx, "linux/amd64", func(img v1.Image) v1.Image { return tt.amd64(t, img) })
			}
			if tt.ref != "" {
				ref = tt.ref
			}
			dir := filepath.Join(t.TempDir(), "layout")
			if err := WriteLayout(dir, idx, ref); err != nil {
				t.Fatal(err)
			}
			if tt.dropDigestName {
				d, _ := idx.Digest()
				if err := layout.Path(dir).RemoveDescriptors(match.Annotation(AnnotationImageName, digestName(ref, d))); err != nil {
					t.Fatal(err)
				}
			}
			want := wantFor(t, spec, "leaselb")
			if tt.extra != "" {
				want.Platforms = append(want.Platforms, mustPlatform(t, tt.extra))
			}
			d, err := Verify(dir, want)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if wd, _ := idx.Digest(); d != wd {
					t.Errorf("Verify returned digest %s, the index is %s", d, wd)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDigestName(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	tests := []struct{ ref, want string }{
		{"ghcr.io/leaselb/leaselb:v0.1.0", "ghcr.io/leaselb/leaselb@" + d.String()},
		{"leaselb.lab/leaselb:dev", "leaselb.lab/leaselb@" + d.String()},
		{"registry.example:5000/leaselb:v1", "registry.example:5000/leaselb@" + d.String()},
		{"registry.example:5000/leaselb", "registry.example:5000/leaselb@" + d.String()},
	}
	for _, tt := range tests {
		if got := digestName(tt.ref, d); got != tt.want {
			t.Errorf("digestName(%q) = %q, want %q", tt.ref, got, tt.want)
		}
	}
}
