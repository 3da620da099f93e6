package nodes

import (
	"encoding/json"
	"net/http"

	"gasper/proto"
)

// Handler returns what the master serves on a node's tunnel streams.
func (r *Registry) Handler(nodeID string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+proto.PathHeartbeat, func(w http.ResponseWriter, req *http.Request) {
		var hb proto.Heartbeat
		if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 64<<10)).Decode(&hb); err != nil {
			http.Error(w, "invalid heartbeat: "+err.Error(), http.StatusBadRequest)
			return
		}
		state := r.Heartbeat(nodeID, hb)
		if state == "" {
			http.Error(w, "node "+nodeID+" is not a member of this cluster", http.StatusGone)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(proto.HeartbeatAck{Seq: hb.Seq, State: state})
	})
	return mux
}
