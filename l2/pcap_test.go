package l2

import (
	"encoding/binary"
	"errors"
	"os"
)

// readPcap reads the frames of a little-endian classic pcap file, which is
// what tcpdump -w writes on the machines we run on.
func readPcap(path string) ([][]byte, error) {
	d, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(d) < 24 || binary.LittleEndian.Uint32(d) != 0xa1b2c3d4 {
		return nil, errors.New(path + ": not a little-endian pcap file")
	}
	var out [][]byte
	for off := 24; off+16 <= len(d); {
		n := int(binary.LittleEndian.Uint32(d[off+8:]))
		off += 16
		if off+n > len(d) {
			return nil, errors.New(path + ": truncated record")
		}
		out = append(out, d[off:off+n])
		off += n
	}
	return out, nil
}
