package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A Binary is one platform's static executable.
type Binary struct {
	Platform v1.Platform
	File     string // path on this machine
}

// A Spec says what to build: one image per Binary, all under one index.
type Spec struct {
	// Name is the image's full name with a tag, e.g.
	// ghcr.io/leaselb/leaselb:v0.1.0; it is what containerd names the
	// image on import.
	Name     string
	Binaries []Binary
	Labels   map[string]string
	// Epoch is every timestamp in the image (SOURCE_DATE_EPOCH), so two
	// builds of one commit are identical.
	Epoch time.Time
}

// parseBinary reads "os/arch[/variant]=file".
func parseBinary(s string) (Binary, error) {
	p, file, ok := strings.Cut(s, "=")
	if !ok || file == "" {
		return Binary{}, fmt.Errorf("--binary %q: want PLATFORM=FILE, e.g. linux/arm/v7=bin/linux_arm_v7/leaselb", s)
	}
	plat, err := v1.ParsePlatform(p)
	if err != nil {
		return Binary{}, fmt.Errorf("--binary %q: %w", s, err)
	}
	if plat.OS == "" || plat.Architecture == "" {
		return Binary{}, fmt.Errorf("--binary %q: platform needs an OS and an architecture, e.g. linux/amd64", s)
	}
	if plat.Architecture == "arm" && plat.Variant == "" {
		return Binary{}, fmt.Errorf("--binary %q: 32-bit arm needs a variant (linux/arm/v7), or nodes cannot choose between v6 and v7 images", s)
	}
	return Binary{Platform: *plat, File: file}, nil
}

// imageName is the name containerd gives the image: the reference as
// written, with Docker Hub spelt docker.io as containerd and the kubelet
// spell it.
func imageName(s string) (string, error) {
	tag, err := name.NewTag(s, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("image name %q: %w (write registry/repository:tag, e.g. ghcr.io/leaselb/leaselb:v0.1.0)", s, err)
	}
	reg := tag.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + tag.RepositoryStr() + ":" + tag.TagStr(), nil
}

// Build returns the multi-platform index for spec and the name to store it
// under. Nothing is pulled: every image starts from the empty image.
func Build(spec Spec) (v1.ImageIndex, string, error) {
	ref, err := imageName(spec.Name)
	if err != nil {
		return nil, "", err
	}
	if len(spec.Binaries) == 0 {
		return nil, "", errors.New("no binaries: give at least one --binary PLATFORM=FILE")
	}
	base := filepath.Base(spec.Binaries[0].File)
	var adds []mutate.IndexAddendum
	seen := map[string]bool{}
	for _, b := range spec.Binaries {
		if filepath.Base(b.File) != base {
			return nil, "", fmt.Errorf("binary %s: every platform's binary must have one file name (%s), since it is the entrypoint", b.File, base)
		}
		if seen[b.Platform.String()] {
			return nil, "", fmt.Errorf("platform %s given twice: give one --binary per platform", b.Platform)
		}
		seen[b.Platform.String()] = true
		img, err := platformImage(b, path.Join(BinDir, base), spec)
		if err != nil {
			return nil, "", err
		}
		plat := b.Platform
		adds = append(adds, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &plat},
		})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	return idx, ref, nil
}

func platformImage(b Binary, target string, spec Spec) (v1.Image, error) {
	data, err := os.ReadFile(b.File)
	if err != nil {
		return nil, fmt.Errorf("binary for %s: %w (build it first, e.g. make image)", b.Platform, err)
	}
	if err := checkELF(data, b.Platform); err != nil {
		return nil, fmt.Errorf("binary %s: %w", b.File, err)
	}
	layerTar, err := binaryLayer(target, data, spec.Epoch)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer for %s: %w", b.Platform, err)
	}
	created := v1.Time{Time: spec.Epoch}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: b.Platform.Architecture,
		OS:           b.Platform.OS,
		Variant:      b.Platform.Variant,
		Created:      created,
		Config: v1.Config{
			Entrypoint: []string{target},
			User:       User,
			Labels:     spec.Labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   created,
			CreatedBy: "imagetool: COPY " + filepath.Base(b.File) + " " + target,
			Comment:   "no base image",
		},
	})
}

// binaryLayer is the one layer's tar: the directories down to target and
// the binary, owned by root, with fixed times. It is what a Dockerfile
// `COPY leaselb /usr/local/bin/leaselb` on scratch produces.
func binaryLayer(target string, data []byte, epoch time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	rel := strings.TrimPrefix(target, "/")
	var dirs []string
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		dirs = append(dirs, d)
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch,
		}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: rel, Mode: 0o755, Size: int64(len(data)), ModTime: epoch,
	}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteLayout writes idx as an OCI layout at dir (replacing what is there).
// index.json names the index twice: by tag (ref, e.g.
// ghcr.io/leaselb/leaselb:v0.1.0) and by digest
// (ghcr.io/leaselb/leaselb@sha256:...). containerd imports one image per
// name, and the kubelet finds a manifest's image pinned by digest
// (name:tag@sha256:...) only under the digest name; a registry pull creates
// both names too.
func WriteLayout(dir string, idx v1.ImageIndex, ref string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("layout %s: %w", dir, err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	size, err := idx.Size()
	if err != nil {
		return err
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		AnnotationImageName: ref,
		AnnotationRefName:   tag.TagStr(),
	})); err != nil {
		return fmt.Errorf("layout %s: %w", dir, err)
	}
	return p.AppendDescriptor(v1.Descriptor{
		MediaType:   types.OCIImageIndex,
		Digest:      d,
		Size:        size,
		Annotations: map[string]string{AnnotationImageName: digestName(ref, d)},
	})
}

// digestName is ref's repository at digest d: ghcr.io/leaselb/leaselb@sha256:...
func digestName(ref string, d v1.Hash) string {
	repo, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@" + d.String()
}

// WriteTar writes the layout at dir into one tar file, the form
// `ctr images import` and k3s' image directory read. Entries are sorted
// and carry fixed owners, modes and times, so the file is as
// reproducible as the layout.
func WriteTar(file, dir string, epoch time.Time) (err error) {
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Sort(files)
	tmp := file + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	tw := tar.NewWriter(f)
	madeDirs := map[string]bool{}
	for _, p := range files {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		var parents []string
		for d := path.Dir(rel); d != "." && !madeDirs[d]; d = path.Dir(d) {
			madeDirs[d] = true
			parents = append(parents, d)
		}
		slices.Reverse(parents)
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
