package wire

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
)

// SourceDocs returns a SchemaGen.Doc that reads the doc and line comments
// of struct fields from the Go sources of module (its root directory
// root): the schemas' descriptions are the wire structs' own comments.
func SourceDocs(root, module string) func(pkg, typ, field string) string {
	cache := map[string]map[string]string{} // package → "Type.Field" → doc
	return func(pkg, typ, field string) string {
		docs, ok := cache[pkg]
		if !ok {
			docs = map[string]string{}
			cache[pkg] = docs
			rel, inModule := strings.CutPrefix(pkg, module)
			if !inModule {
				return ""
			}
			dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(rel, "/")))
			readDocs(dir, docs)
		}
		return docs[typ+"."+field]
	}
}

func readDocs(dir string, docs map[string]string) {
	fset := token.NewFileSet()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			continue
		}
		ast.Inspect(f, func(node ast.Node) bool {
			ts, ok := node.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fld := range st.Fields.List {
				text := ""
				if fld.Doc != nil {
					text = fld.Doc.Text()
				}
				if text == "" && fld.Comment != nil {
					text = fld.Comment.Text()
				}
				text = strings.Join(strings.Fields(text), " ")
				if text == "" {
					continue
				}
				for _, name := range fld.Names {
					docs[ts.Name.Name+"."+name.Name] = text
				}
			}
			return true
		})
	}
}
