package wire

import (
	"encoding"
	"encoding/json"
	"reflect"
)

// Normalize returns v with every nil slice and map (outside values that
// marshal themselves) replaced by an empty one, so that lists in the
// output are [] when empty, never null. Pointers stay nil (null, or absent
// with omitempty).
func Normalize(v any) any {
	if v == nil {
		return nil
	}
	return normalize(reflect.ValueOf(v)).Interface()
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func marshalsItself(t reflect.Type) bool {
	return t.Implements(marshalerType) || t.Implements(textMarshalerType) ||
		reflect.PointerTo(t).Implements(marshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)
}

// mayHoldNil says whether a value of t can hold a nil slice or map that
// normalize would replace.
func mayHoldNil(t reflect.Type, seen map[reflect.Type]bool) bool {
	if marshalsItself(t) {
		return false
	}
	if r, ok := seen[t]; ok {
		return r
	}
	seen[t] = true // assume yes while recursing
	r := false
	switch t.Kind() {
	case reflect.Slice:
		r = t.Elem().Kind() != reflect.Uint8
	case reflect.Map, reflect.Interface:
		r = true
	case reflect.Pointer, reflect.Array:
		r = mayHoldNil(t.Elem(), seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() && mayHoldNil(f.Type, seen) {
				r = true
			}
		}
	}
	seen[t] = r
	return r
}

func normalize(v reflect.Value) reflect.Value {
	t := v.Type()
	if !mayHoldNil(t, map[reflect.Type]bool{}) {
		return v
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(normalize(v.Elem()))
		return p
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		n := normalize(v.Elem())
		out := reflect.New(t).Elem()
		out.Set(n)
		return out
	case reflect.Struct:
		out := reflect.New(t).Elem()
		out.Set(v)
		for i := 0; i < t.NumField(); i++ {
			if f := out.Field(i); t.Field(i).IsExported() && f.CanSet() {
				f.Set(normalize(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return reflect.MakeSlice(t, 0, 0)
		}
		out := reflect.MakeSlice(t, v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(normalize(v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(t).Elem()
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(normalize(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return reflect.MakeMap(t)
		}
		out := reflect.MakeMapWithSize(t, v.Len())
		it := v.MapRange()
		for it.Next() {
			out.SetMapIndex(it.Key(), normalize(it.Value()))
		}
		return out
	}
	return v
}
