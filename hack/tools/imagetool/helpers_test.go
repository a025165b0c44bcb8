package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// fakeELF is the smallest ELF executable debug/elf reads: a header for
// machine and, when interp, one PT_INTERP program header (what a
// dynamically linked binary has).
func fakeELF(machine elf.Machine, class elf.Class, interp bool) []byte {
	var buf bytes.Buffer
	ident := [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(class), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)}
	phnum := uint16(0)
	if interp {
		phnum = 1
	}
	if class == elf.ELFCLASS64 {
		h := elf.Header64{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
			Ehsize: 64, Phentsize: 56, Phnum: phnum, Phoff: 64, Shentsize: 64}
		binary.Write(&buf, binary.LittleEndian, h)
		if interp {
			binary.Write(&buf, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_INTERP)})
		}
	} else {
		h := elf.Header32{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
			Ehsize: 52, Phentsize: 32, Phnum: phnum, Phoff: 52, Shentsize: 40}
		binary.Write(&buf, binary.LittleEndian, h)
		if interp {
			binary.Write(&buf, binary.LittleEndian, elf.Prog32{Type: uint32(elf.PT_INTERP)})
		}
	}
	return buf.Bytes()
}

func mustPlatform(t *testing.T, s string) v1.Platform {
	t.Helper()
	p, err := v1.ParsePlatform(s)
	if err != nil {
		t.Fatal(err)
	}
	return *p
}

// elfFor is a fake static binary for platform p.
func elfFor(t *testing.T, p v1.Platform) []byte {
	t.Helper()
	m, ok := elfMachine[p.Architecture]
	if !ok {
		t.Fatalf("no ELF machine for %s", p)
	}
	class := elf.ELFCLASS64
	if p.Architecture == "arm" || p.Architecture == "386" {
		class = elf.ELFCLASS32
	}
	return fakeELF(m, class, false)
}

var allPlatforms = []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}

// testSpec writes a fake binary named name for each platform under a
// temp dir and returns the Spec that builds them.
func testSpec(t *testing.T, name string, platforms ...string) Spec {
	t.Helper()
	dir := t.TempDir()
	spec := Spec{
		Name:  "ghcr.io/leaselb/leaselb:v0.1.0",
		Epoch: time.Unix(1764633600, 0).UTC(),
		Labels: map[string]string{
			LabelSource: "https://github.com/leaselb/leaselb", LabelVersion: "v0.1.0", LabelRevision: "abc",
		},
	}
	for _, s := range platforms {
		p := mustPlatform(t, s)
		f := filepath.Join(dir, strings.ReplaceAll(s, "/", "_"), name)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, elfFor(t, p), 0o755); err != nil {
			t.Fatal(err)
		}
		spec.Binaries = append(spec.Binaries, Binary{Platform: p, File: f})
	}
	return spec
}

func wantFor(t *testing.T, spec Spec, binary string) Want {
	t.Helper()
	w := Want{Name: spec.Name, Binary: binary}
	for _, b := range spec.Binaries {
		w.Platforms = append(w.Platforms, b.Platform)
	}
	return w
}

// buildLayout builds spec into a fresh layout and returns its directory.
func buildLayout(t *testing.T, spec Spec) string {
	t.Helper()
	idx, ref, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteLayout(dir, idx, ref); err != nil {
		t.Fatal(err)
	}
	return dir
}
