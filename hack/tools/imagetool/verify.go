package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// namedIndex is the one index the layout's index.json names (by tag and by
// digest): every entry must point at it.
func namedIndex(dir string, top *v1.IndexManifest) (v1.Descriptor, error) {
	if len(top.Manifests) == 0 {
		return v1.Descriptor{}, fmt.Errorf("layout %s: index.json is empty (build it with make image)", dir)
	}
	for _, m := range top.Manifests[1:] {
		if m.Digest != top.Manifests[0].Digest {
			return v1.Descriptor{}, fmt.Errorf("layout %s: index.json names %s and %s; want one multi-platform index (rebuild it with make image)", dir, top.Manifests[0].Digest, m.Digest)
		}
	}
	return top.Manifests[0], nil
}

// elfMachine is the ELF machine of each Go architecture we may ship.
var elfMachine = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"386":     elf.EM_386,
	"riscv64": elf.EM_RISCV,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
}

// checkELF fails unless data is a static ELF executable for p: an image
// with no base has no dynamic loader, and a binary of the wrong
// architecture only fails on the node ("exec format error").
func checkELF(data []byte, p v1.Platform) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF executable (%v); build it with GOOS=%s GOARCH=%s", err, p.OS, p.Architecture)
	}
	if want, ok := elfMachine[p.Architecture]; ok && f.Machine != want {
		return fmt.Errorf("built for %s, not %s; build it with GOARCH=%s", f.Machine, p.Architecture, p.Architecture)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return errors.New("dynamically linked, and the image has no libc; build it with CGO_ENABLED=0")
		}
	}
	return nil
}

// A Want is what Verify expects of a layout.
type Want struct {
	Name      string        // the name containerd must import it as
	Binary    string        // the binary's file name, e.g. leaselb
	Platforms []v1.Platform // exactly these
}

// Verify reads the layout at dir back and checks it is what Build writes
// for want: one named index of one image per platform, each a scratch
// image of one layer with the binary (root-owned, 0755, for the right
// architecture), the entrypoint, user and labels. It returns the index's
// digest and every problem found.
func Verify(dir string, want Want) (v1.Hash, error) {
	root, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w (build it with make image)", dir, err)
	}
	top, err := root.IndexManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("layout %s: %w", dir, err)
	}
	entry, err := namedIndex(dir, top)
	if err != nil {
		return v1.Hash{}, err
	}
	var errs []error
	names := map[string]bool{}
	for _, m := range top.Manifests {
		names[m.Annotations[AnnotationImageName]] = true
	}
	for _, n := range []string{want.Name, digestName(want.Name, entry.Digest)} {
		if !names[n] {
			errs = append(errs, fmt.Errorf("layout %s: no index.json entry with %s %q (it has %v): containerd would not import it under that name", dir, AnnotationImageName, n, slices.Sorted(maps.Keys(names))))
		}
	}
	if len(top.Manifests) != 2 {
		errs = append(errs, fmt.Errorf("layout %s: index.json has %d entries, want 2 (the index by tag and by digest)", dir, len(top.Manifests)))
	}
	if entry.MediaType != types.OCIImageIndex {
		return entry.Digest, errors.Join(append(errs, fmt.Errorf("layout %s: index.json entry is a %s, want an OCI image index", dir, entry.MediaType))...)
	}
	idx, err := root.ImageIndex(entry.Digest)
	if err != nil {
		return entry.Digest, errors.Join(append(errs, err)...)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return entry.Digest, errors.Join(append(errs, err)...)
	}
	var got []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			errs = append(errs, fmt.Errorf("manifest %s: no platform in the index; nodes could not pick it", d.Digest))
			continue
		}
		got = append(got, d.Platform.String())
		img, err := idx.Image(d.Digest)
		if err != nil {
			errs = append(errs, fmt.Errorf("image %s: %w", d.Platform, err))
			continue
		}
		errs = append(errs, verifyImage(img, *d.Platform, want.Binary)...)
	}
	var wantPlats []string
	for _, p := range want.Platforms {
		wantPlats = append(wantPlats, p.String())
	}
	slices.Sort(got)
	slices.Sort(wantPlats)
	if !slices.Equal(got, wantPlats) {
		errs = append(errs, fmt.Errorf("layout %s: platforms %v, want %v", dir, got, wantPlats))
	}
	return entry.Digest, errors.Join(errs...)
}

func verifyImage(img v1.Image, p v1.Platform, binary string) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("image %s: "+format, append([]any{p.String()}, args...)...))
	}
	if mt, err := img.MediaType(); err != nil || mt != types.OCIManifestSchema1 {
		fail("media type %s (%v), want %s", mt, err, types.OCIManifestSchema1)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		fail("config: %v", err)
		return errs
	}
	if cf.OS != p.OS || cf.Architecture != p.Architecture || cf.Variant != p.Variant {
		fail("config says %s/%s/%s, the index says %s", cf.OS, cf.Architecture, cf.Variant, p)
	}
	target := path.Join(BinDir, binary)
	if !slices.Equal(cf.Config.Entrypoint, []string{target}) {
		fail("entrypoint %q, want [%q]", cf.Config.Entrypoint, target)
	}
	if cf.Config.User != User {
		fail("user %q, want %q (the controller runs as the image's user)", cf.Config.User, User)
	}
	for _, l := range []string{LabelSource, LabelVersion, LabelRevision} {
		if cf.Config.Labels[l] == "" {
			fail("no label %s", l)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		fail("%d layers (%v), want 1: the binary on no base", len(layers), err)
		return errs
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		fail("layer: %v", err)
		return errs
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail("layer: %v", err)
			return errs
		}
		name := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		if h.Uid != 0 || h.Gid != 0 {
			fail("%s is owned by %d:%d, want root", name, h.Uid, h.Gid)
		}
		switch {
		case h.Typeflag == tar.TypeDir && strings.HasPrefix(target, name+"/"):
		case h.Typeflag == tar.TypeReg && name == target:
			found = true
			if h.Mode&0o7777 != 0o755 {
				fail("%s has mode %o, want 755", name, h.Mode&0o7777)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				fail("%s: %v", name, err)
			} else if err := checkELF(data, p); err != nil {
				fail("%s: %v", name, err)
			}
		default:
			fail("unexpected %s in the layer: the image holds the binary only", name)
		}
	}
	if !found {
		fail("no %s in the layer", target)
	}
	return errs
}
