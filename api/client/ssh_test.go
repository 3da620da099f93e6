package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"gasper/api"
	"gasper/api/client"
	"gasper/proto"
)

// TestExec opens an exec stream against a server that runs "echo" the way
// the master answers: refusals as JSON errors, then 101 and frames.
func TestExec(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer tok":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.Error{Code: api.CodeUnauthorized, Message: "bad token"}})
		case r.URL.Path != api.Prefix+"/apps/web/exec" || r.URL.Query().Get("instance") != "2":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(api.ErrorResponse{Error: api.Error{Code: api.CodeNotFound, Message: "app nope not found"}})
		case !proto.IsExecRequest(r):
			http.Error(w, "no upgrade", http.StatusBadRequest)
		default:
			stream, err := proto.AcceptExec(w)
			if err != nil {
				return
			}
			defer stream.Close()
			_, p, _ := proto.ReadFrame(stream)
			var start proto.ExecStart
			json.Unmarshal(p, &start)
			out := proto.NewFrameWriter(stream)
			out.Write(proto.FrameStdout, []byte(start.Args[1]))
			out.WriteJSON(proto.FrameExit, proto.ExecExit{Code: 3})
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	stream, err := client.New(srv.URL, client.WithToken("tok")).Exec(ctx, "web", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	proto.NewFrameWriter(stream).WriteJSON(proto.FrameStart, proto.ExecStart{Args: []string{"echo", "hello"}})
	var got []string
	for {
		typ, p, err := proto.ReadFrame(stream)
		if err != nil {
			t.Fatalf("read: %v (got %v)", err, got)
		}
		got = append(got, string(typ)+":"+string(p))
		if typ == proto.FrameExit {
			break
		}
	}
	if len(got) != 2 || got[0] != "1:hello" || got[1] != `x:{"code":3}` {
		t.Errorf("frames %q", got)
	}

	if _, err := client.New(srv.URL, client.WithToken("tok")).Exec(ctx, "nope", 0); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown app: %v, want not found", err)
	}
	if _, err := client.New(srv.URL, client.WithToken("other")).Exec(ctx, "web", 2); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("bad token: %v, want unauthorized", err)
	}
}
