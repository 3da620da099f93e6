package httpapi

import (
	"net/http"

	"gasper/api"
)

// routes is the API: every route, once.
func (s *Server) routes() []route {
	return []route{
		{Method: "GET", Path: "/health", Access: public, Summary: "Health of the master",
			Response: api.Health{}, Status: http.StatusOK, Handle: s.health},
		{Method: "GET", Path: "/openapi.json", Access: public, Summary: "This API's OpenAPI 3 document",
			Response: map[string]any{}, Status: http.StatusOK, Handle: s.openAPI},

		{Method: "POST", Path: "/auth/login", Access: public, Summary: "Log in with email and password",
			Request: api.LoginRequest{}, Response: api.Session{}, Status: http.StatusOK, Handle: s.login},
		{Method: "POST", Path: "/auth/refresh", Access: public, Summary: "Trade a refresh token for a new session pair (the old refresh token is spent)",
			Request: api.RefreshRequest{}, Response: api.Session{}, Status: http.StatusOK, Handle: s.refresh},
		{Method: "POST", Path: "/auth/logout", Access: user, Summary: "End the session of the access token used",
			Status: http.StatusNoContent, Handle: s.logout},
		{Method: "GET", Path: "/whoami", Access: user, Summary: "The authenticated user",
			Response: api.User{}, Status: http.StatusOK, Handle: s.whoami},

		{Method: "GET", Path: "/users", Access: admin, Summary: "List users",
			Response: []api.User{}, Status: http.StatusOK, Handle: s.listUsers},
		{Method: "POST", Path: "/users", Access: admin, Summary: "Create a user",
			Request: api.CreateUserRequest{}, Response: api.User{}, Status: http.StatusCreated, Handle: s.createUser},
		{Method: "GET", Path: "/users/{user}", Access: user, Summary: "A user, by id or email (admins, or the user themself)",
			Response: api.User{}, Status: http.StatusOK, Handle: s.getUser},
		{Method: "DELETE", Path: "/users/{user}", Access: admin, Summary: "Delete a user with their sessions and tokens",
			Status: http.StatusNoContent, Handle: s.deleteUser},
		{Method: "PUT", Path: "/users/{user}/admin", Access: admin, Summary: "Grant admin rights",
			Response: api.User{}, Status: http.StatusOK, Handle: s.setAdmin(true)},
		{Method: "DELETE", Path: "/users/{user}/admin", Access: admin, Summary: "Revoke admin rights (never the last admin's)",
			Response: api.User{}, Status: http.StatusOK, Handle: s.setAdmin(false)},

		{Method: "GET", Path: "/tokens", Access: user, Summary: "List your API tokens",
			Response: []api.APIToken{}, Status: http.StatusOK, Handle: s.listTokens},
		{Method: "POST", Path: "/tokens", Access: user, Summary: "Create an API token; its secret is shown once",
			Request: api.CreateAPITokenRequest{}, Response: api.CreatedAPIToken{}, Status: http.StatusCreated, Handle: s.createToken},
		{Method: "DELETE", Path: "/tokens/{id}", Access: user, Summary: "Revoke an API token (yours; admins: any)",
			Status: http.StatusNoContent, Handle: s.revokeToken},

		{Method: "GET", Path: "/nodes", Access: admin, Summary: "List nodes with their state, facts and usage",
			Response: []api.Node{}, Status: http.StatusOK, Handle: s.listNodes},
		{Method: "POST", Path: "/nodes/tokens", Access: admin, Summary: "Create a join token for new nodes",
			Request: api.CreateJoinTokenRequest{}, Response: api.JoinToken{}, Status: http.StatusCreated, Handle: s.createJoinToken},
		{Method: "GET", Path: "/nodes/{node}", Access: admin, Summary: "A node, by id or unique hostname",
			Response: api.Node{}, Status: http.StatusOK, Handle: s.getNode},
		{Method: "DELETE", Path: "/nodes/{node}", Access: admin, Summary: "Forget a node and close its tunnel",
			Status: http.StatusNoContent, Handle: s.removeNode},

		{Method: "GET", Path: "/audit", Access: admin, Summary: "The audit log, newest first",
			Response: []api.AuditEvent{}, Status: http.StatusOK, Query: []string{"limit"}, Handle: s.listAudit},
	}
}
