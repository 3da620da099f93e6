package httpapi

import (
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gasper/api"
)

// Document returns the OpenAPI 3.0 document of the API, generated from the
// route table and the Go types of its bodies.
func (s *Server) Document() map[string]any {
	g := &schemaGen{components: map[string]any{}}
	errRef := g.schema(reflect.TypeOf(api.ErrorResponse{}))
	paths := map[string]map[string]any{}
	for _, rt := range s.routes() {
		op := map[string]any{
			"operationId": operationID(rt),
			"summary":     rt.Summary,
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.RawBody != "" {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				rt.RawBody: map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}},
			}}
		}
		if rt.Request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Request))},
			}}
		}
		ok := map[string]any{"description": http.StatusText(rt.Status)}
		if rt.Stream != nil {
			ok["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		if rt.Response != nil {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Response))}}
		}
		responses := map[string]any{strconv.Itoa(rt.Status): ok}
		errStatus := []int{http.StatusInternalServerError}
		if rt.Request != nil || rt.RawBody != "" || len(rt.Query) > 0 || strings.Contains(rt.Path, "{") || rt.Method == "POST" {
			errStatus = append(errStatus, http.StatusBadRequest)
		}
		if rt.Access != public || rt.Path == "/auth/login" || rt.Path == "/auth/refresh" {
			errStatus = append(errStatus, http.StatusUnauthorized)
		}
		if rt.Access == admin || strings.Contains(rt.Path, "{") {
			errStatus = append(errStatus, http.StatusForbidden, http.StatusNotFound)
		}
		// Apps and databases live on nodes, which may not be there.
		onNodes := strings.HasPrefix(rt.Path, "/apps") || strings.HasPrefix(rt.Path, "/databases") || strings.HasPrefix(rt.Path, "/backups")
		if rt.Method != "GET" && rt.Access != public || onNodes && strings.Contains(rt.Path, "{") {
			errStatus = append(errStatus, http.StatusConflict)
		}
		if onNodes {
			errStatus = append(errStatus, http.StatusServiceUnavailable)
		}
		if rt.RawBody != "" {
			errStatus = append(errStatus, http.StatusRequestEntityTooLarge)
		}
		for _, st := range errStatus {
			responses[strconv.Itoa(st)] = map[string]any{"description": http.StatusText(st),
				"content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
		}
		op["responses"] = responses
		if rt.Access != public {
			op["security"] = []any{map[string]any{"bearer": []any{}}}
		}
		p := api.Prefix + rt.Path
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Gasper master API",
			"version":     "1",
			"description": "Errors are {\"error\": {\"code\", \"message\"}}. Authenticate with \"Authorization: Bearer TOKEN\", where TOKEN is an access token from /auth/login or an API token (gsp_...).",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.components,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "a JWT access token or a gsp_ API token"},
			},
		},
	}
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func operationID(rt route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, part := range strings.FieldsFunc(rt.Path, func(r rune) bool { return r == '/' || r == '.' || r == '_' }) {
		if strings.HasPrefix(part, "{") {
			part = "by_" + strings.Trim(part, "{}")
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// schemaGen turns Go types into JSON schemas, named structs into components.
type schemaGen struct {
	components map[string]any
}

var timeType = reflect.TypeOf(time.Time{})

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		s := g.schema(t.Elem())
		if ref, ok := s["$ref"]; ok {
			return map[string]any{"allOf": []any{map[string]any{"$ref": ref}}, "nullable": true}
		}
		s["nullable"] = true
		return s
	case t.Kind() == reflect.Slice:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case t.Kind() == reflect.Map:
		return map[string]any{"type": "object"}
	case t.Kind() == reflect.String:
		return map[string]any{"type": "string"}
	case t.Kind() == reflect.Bool:
		return map[string]any{"type": "boolean"}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return map[string]any{"type": "integer"}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return map[string]any{"type": "number"}
	case t.Kind() == reflect.Struct:
		name := t.Name()
		if _, done := g.components[name]; !done {
			g.components[name] = nil // breaks cycles
			props := map[string]any{}
			var required []string
			g.fields(t, props, &required)
			obj := map[string]any{"type": "object", "properties": props}
			if len(required) > 0 {
				obj["required"] = required
			}
			g.components[name] = obj
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

// fields adds t's JSON fields to props, flattening embedded structs as
// encoding/json does.
func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			g.fields(f.Type, props, required)
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}
