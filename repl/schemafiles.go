package repl

import (
	"fmt"
	"strings"

	"github.com/kdump-inspect/kdump-inspect/wire"
)

// modulePath is the module's import path (for the field descriptions of
// the schemas, read from the sources).
const modulePath = "github.com/kdump-inspect/kdump-inspect"

// SchemaFiles returns docs/schema/NAME.json for every command with --json,
// generated from Command.JSON (package wire); root is the repository root
// whose sources give the fields' descriptions ("" for none).
func SchemaFiles(cmds []Command, root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	g := &wire.SchemaGen{}
	if root != "" {
		g.Doc = wire.SourceDocs(root, modulePath)
	}
	for i := range cmds {
		c := &cmds[i]
		if len(c.JSON) == 0 {
			continue
		}
		desc := c.Summary()
		if len(c.JSON) > 1 {
			var forms []string
			for _, f := range c.JSON {
				w := f.When
				if w == "" {
					w = "(default)"
				}
				forms = append(forms, w)
			}
			desc += " Data forms: " + strings.Join(forms, "; ") + "."
		}
		s, err := func() (s map[string]any, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("%s: %v", c.Name, r)
				}
			}()
			return g.CommandSchema(c.Name, "kdump-inspect "+c.Name+" --json", desc, c.JSON), nil
		}()
		if err != nil {
			return nil, err
		}
		b, err := wire.Marshal(s, true)
		if err != nil {
			return nil, err
		}
		out[c.Name+".json"] = append(b, '\n')
	}
	return out, nil
}
