package repl

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// asciiOf spells the bytes of v as they lie in memory (in the dump's byte
// order), as crash's ascii does: printable bytes as themselves, others
// as <xx>, trailing NULs dropped.
func asciiOf(v uint64, order binary.ByteOrder) string {
	var b [8]byte
	order.PutUint64(b[:], v)
	s := b[:]
	if order == binary.LittleEndian {
		for len(s) > 0 && s[len(s)-1] == 0 {
			s = s[:len(s)-1]
		}
	} else {
		for len(s) > 0 && s[0] == 0 {
			s = s[1:]
		}
	}
	var out strings.Builder
	for _, c := range s {
		if c >= 0x20 && c < 0x7f {
			out.WriteByte(c)
		} else {
			fmt.Fprintf(&out, "<%02x>", c)
		}
	}
	return out.String()
}

func cmdAscii(c *Call) error {
	fs := c.Flags()
	args, err := c.Parse(fs)
	if err != nil {
		return err
	}
	asJSON := boolFlag(fs, "json")
	if len(args) == 0 && asJSON {
		return c.JSON(asciiChart())
	}
	if len(args) == 0 {
		for r := 0x20; r < 0x80; r += 16 {
			var line strings.Builder
			for x := r; x < r+16 && x < 0x7f; x++ {
				fmt.Fprintf(&line, "%02x %c  ", x, x)
			}
			c.Printf("%s\n", strings.TrimRight(line.String(), " "))
		}
		return nil
	}
	var order binary.ByteOrder = binary.LittleEndian
	if c.S.Prog != nil {
		order = c.S.Prog.Order
	}
	var vals []uint64
	for _, a := range args {
		v, err := parseNum(a)
		if err != nil {
			if v, err = parseNum("0x" + strings.TrimPrefix(a, "0x")); err != nil {
				return &UsageError{Cmd: "ascii", Msg: fmt.Sprintf("%q is not a hexadecimal value", a)}
			}
		}
		vals = append(vals, v)
	}
	if asJSON {
		return c.JSON(asciiViews(vals, order))
	}
	for i, v := range vals {
		c.Printf("%s: %s\n", strings.TrimPrefix(args[i], "0x"), asciiOf(v, order))
	}
	return nil
}
