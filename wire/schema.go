package wire

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// JSON Schema (draft 2020-12) of the wire types, made by reflection so
// that docs/schema/ cannot drift from what the views marshal. A struct is
// an object of its json-tagged fields (additionalProperties false; the
// fields without omitempty required); a slice an array, never null (Write
// normalizes); a pointer without omitempty may be null; Hex a "0x…"
// string; a type that marshals itself says its schema with a WireType or
// EnumValues method, else is a string (encoding.TextMarshaler).

// Wirer is a type that marshals itself (json.Marshaler) through a wire
// struct; WireType returns a zero value of that struct.
type Wirer interface{ WireType() any }

// Enum is a type marshalled as one of a fixed set of names.
type Enum interface{ EnumValues() []string }

// Schemer is a type that states its own schema (refs to other commands'
// schema files, say).
type Schemer interface{ JSONSchema() map[string]any }

// Form is one shape of a command's data: When names the flags that select
// it ("" for the default), Data is a zero value of its wire type.
type Form struct {
	When string
	Data any
}

// SchemaGen builds schemas; Doc, when set, returns the doc comment of a
// struct field (package path, type name, Go field name).
type SchemaGen struct {
	Doc  func(pkg, typ, field string) string
	defs map[string]any
	name map[reflect.Type]string
}

// HexPattern is the pattern of a Hex string.
const HexPattern = "^0x(0|[1-9a-f][0-9a-f]*)$"

var hexType = reflect.TypeFor[Hex]()

// CommandSchema is the schema of command's documents: the envelope, with
// data one of forms (or null when the document carries an error). refs
// maps a data type to a schema file it is described by instead (the
// report's parts refer to the other commands' files).
func (g *SchemaGen) CommandSchema(command, title, description string, forms []Form) map[string]any {
	g.defs = map[string]any{}
	g.name = map[reflect.Type]string{}
	var alts []any
	for _, f := range forms {
		s := g.schema(reflect.TypeOf(f.Data))
		if f.When != "" {
			s = withTitle(s, command+" "+f.When)
		} else if len(forms) > 1 {
			s = withTitle(s, command)
		}
		alts = append(alts, s)
	}
	var data any = map[string]any{}
	switch len(alts) {
	case 0:
	case 1:
		data = alts[0]
	default:
		data = map[string]any{"anyOf": alts}
	}
	out := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"title":       title,
		"description": description,
		"type":        "object",
		"required":    []string{"schema", "command", "data", "warnings"},
		"properties": map[string]any{
			"schema":   map[string]any{"const": Schema},
			"command":  map[string]any{"const": command},
			"data":     map[string]any{"description": "the command's result; null only with error"},
			"warnings": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			"error":    map[string]any{"type": "string"},
		},
		"additionalProperties": false,
		// Without an error the data has the command's shape; with one it
		// may also be null.
		"if":   map[string]any{"required": []string{"error"}},
		"then": map[string]any{"properties": map[string]any{"data": map[string]any{"anyOf": []any{data, map[string]any{"type": "null"}}}}},
		"else": map[string]any{"properties": map[string]any{"data": data}},
	}
	if len(g.defs) > 0 {
		out["$defs"] = g.defs
	}
	return out
}

func withTitle(s any, title string) any { return withKey(s, "title", title) }

// withKey is a copy of schema s with key set to v (s itself when it is
// not an object).
func withKey(s any, key string, v any) any {
	m, ok := s.(map[string]any)
	if !ok {
		return s
	}
	c := make(map[string]any, len(m)+1)
	for k, x := range m {
		c[k] = x
	}
	c[key] = v
	return c
}

func (g *SchemaGen) schema(t reflect.Type) any {
	if t == nil {
		return map[string]any{}
	}
	if t == hexType {
		return map[string]any{"type": "string", "pattern": HexPattern}
	}
	if t.Implements(reflect.TypeFor[Schemer]()) {
		return reflect.Zero(t).Interface().(Schemer).JSONSchema()
	}
	if t.Implements(reflect.TypeFor[Wirer]()) {
		return g.schema(reflect.TypeOf(reflect.Zero(t).Interface().(Wirer).WireType()))
	}
	if t.Implements(reflect.TypeFor[Enum]()) {
		vals := reflect.Zero(t).Interface().(Enum).EnumValues()
		return map[string]any{"type": "string", "enum": vals}
	}
	if t.Implements(reflect.TypeFor[json.Marshaler]()) {
		panic(fmt.Sprintf("wire: %v marshals itself but has no WireType", t))
	}
	if marshalsItself(t) {
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Uint64, reflect.Uintptr:
		panic(fmt.Sprintf("wire: %v: a 64-bit unsigned value on the wire is a Hex (an address, a word) or an int64 (a count)", t))
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Pointer:
		return map[string]any{"anyOf": []any{g.schema(t.Elem()), map[string]any{"type": "null"}}}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			panic(fmt.Sprintf("wire: %v: bytes go on the wire as hex words or text, not base64", t))
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			panic(fmt.Sprintf("wire: %v: map keys are strings", t))
		}
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Struct:
		return g.structRef(t)
	}
	panic(fmt.Sprintf("wire: %v cannot go on the wire", t))
}

// structRef puts a struct's schema in $defs and refers to it.
func (g *SchemaGen) structRef(t reflect.Type) any {
	name, ok := g.name[t]
	if !ok {
		name = t.Name()
		if name == "" {
			name = "anon"
		}
		if p := t.PkgPath(); p != "" {
			pkg := p[strings.LastIndex(p, "/")+1:]
			if pkg != "repl" && pkg != "main" {
				name = pkg + "." + name
			}
		}
		base := name
		for i := 2; g.defs[name] != nil; i++ {
			name = fmt.Sprintf("%s%d", base, i)
		}
		g.name[t] = name
		g.defs[name] = true // placeholder while recursing
		g.defs[name] = g.structSchema(t)
	}
	return map[string]any{"$ref": "#/$defs/" + name}
}

func (g *SchemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	sort.Strings(required)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// fields adds t's fields as encoding/json sees them (embedded structs
// flattened).
func (g *SchemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			panic(fmt.Sprintf("wire: %v.%s has no json name", t, f.Name))
		}
		if name != strings.ToLower(name) || strings.ContainsAny(name, "- ") {
			panic(fmt.Sprintf("wire: %v.%s: key %q is not snake_case", t, f.Name, name))
		}
		ft := f.Type
		omit := strings.Contains(","+opts+",", ",omitzero,") ||
			strings.Contains(","+opts+",", ",omitempty,") && ft.Kind() != reflect.Struct // omitempty never omits a struct
		var s any
		if omit && ft.Kind() == reflect.Pointer {
			s = g.schema(ft.Elem()) // absent when nil
		} else {
			s = g.schema(ft)
		}
		if g.Doc != nil {
			if d := g.Doc(t.PkgPath(), t.Name(), f.Name); d != "" {
				s = withDescription(s, d)
			}
		}
		props[name] = s
		if !omit {
			*required = append(*required, name)
		}
	}
}

func withDescription(s any, d string) any {
	return withKey(s, "description", d) // beside $ref too: 2020-12 allows it
}
