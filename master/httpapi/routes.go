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

		{Method: "GET", Path: "/ca", Access: public, Summary: "The cloud CA certificate (PEM) that signs apps' HTTPS certificates",
			Status: http.StatusOK, Stream: s.cloudCA},

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

		{Method: "GET", Path: "/apps", Access: user, Summary: "List your apps (admins: all)",
			Response: []api.App{}, Status: http.StatusOK, Handle: s.listApps},
		{Method: "POST", Path: "/apps", Access: user, Summary: "Create an app; a git app starts building at once",
			Request: api.CreateAppRequest{}, Response: api.App{}, Status: http.StatusCreated, Handle: s.createApp},
		{Method: "GET", Path: "/apps/{app}", Access: user, Summary: "An app with its status and instances",
			Response: api.App{}, Status: http.StatusOK, Handle: s.getApp},
		{Method: "PATCH", Path: "/apps/{app}", Access: user, Summary: "Change an app's config; rolls out a new release (rebuilds when build settings change)",
			Request: api.UpdateAppRequest{}, Response: api.Release{}, Status: http.StatusAccepted, Handle: s.updateApp},
		{Method: "DELETE", Path: "/apps/{app}", Access: user, Summary: "Delete an app with its containers, images, releases and sources",
			Status: http.StatusNoContent, Handle: s.deleteApp},
		{Method: "POST", Path: "/apps/{app}/source", Access: user, Summary: "Deploy a gzip'd tar of the source as a new release",
			RawBody: "application/gzip", MaxBody: 200 << 20, Response: api.Release{}, Status: http.StatusAccepted, Handle: s.uploadSource},
		{Method: "POST", Path: "/apps/{app}/rebuild", Access: user, Summary: "Build the current source again (git apps fetch their branch)",
			Response: api.Release{}, Status: http.StatusAccepted, Handle: s.rebuildApp},
		{Method: "GET", Path: "/apps/{app}/releases", Access: user, Summary: "An app's releases, newest first",
			Response: []api.Release{}, Status: http.StatusOK, Handle: s.listReleases},
		{Method: "GET", Path: "/apps/{app}/releases/{n}", Access: user, Summary: "One release",
			Response: api.Release{}, Status: http.StatusOK, Handle: s.getRelease},
		{Method: "GET", Path: "/apps/{app}/releases/{n}/log", Access: user, Summary: "A release's build log; follow=1 streams it until the build ends",
			Query: []string{"follow"}, Status: http.StatusOK, Stream: s.buildLog},
		{Method: "POST", Path: "/apps/{app}/rollback", Access: user, Summary: "Roll back to an earlier release (a new release with its image, no build)",
			Request: api.RollbackRequest{}, Response: api.Release{}, Status: http.StatusAccepted, Handle: s.rollbackApp},
		{Method: "POST", Path: "/apps/{app}/restart", Access: user, Summary: "Replace the app's instances with fresh ones",
			Status: http.StatusNoContent, Handle: s.restartApp},
		{Method: "GET", Path: "/apps/{app}/logs", Access: user, Summary: "The app's logs; follow=1 streams them",
			Query: []string{"follow", "tail"}, Status: http.StatusOK, Stream: s.appLogs},
		{Method: "GET", Path: "/apps/{app}/env", Access: user, Summary: "The app's environment variables with their values",
			Response: map[string]string{}, Status: http.StatusOK, Handle: s.getEnv},
		{Method: "PATCH", Path: "/apps/{app}/env", Access: user, Summary: "Set and unset environment variables; rolls out a new release",
			Request: api.EnvRequest{}, Response: api.Release{}, Status: http.StatusAccepted, Handle: s.setEnv},

		{Method: "POST", Path: "/apps/{app}/domains", Access: user, Summary: "Give an app a custom domain",
			Request: api.DomainRequest{}, Response: api.App{}, Status: http.StatusCreated, Handle: s.addDomain},
		{Method: "DELETE", Path: "/apps/{app}/domains/{domain}", Access: user, Summary: "Take a custom domain from an app",
			Status: http.StatusNoContent, Handle: s.removeDomain},

		{Method: "GET", Path: "/ssh-keys", Access: user, Summary: "Your SSH public keys",
			Response: []api.SSHKey{}, Status: http.StatusOK, Handle: s.listSSHKeys},
		{Method: "POST", Path: "/ssh-keys", Access: user, Summary: "Register an SSH public key: it logs you in to your apps over SSH",
			Request: api.AddSSHKeyRequest{}, Response: api.SSHKey{}, Status: http.StatusCreated, Handle: s.addSSHKey},
		{Method: "DELETE", Path: "/ssh-keys/{key}", Access: user, Summary: "Remove an SSH key (yours; admins: any)",
			Status: http.StatusNoContent, Handle: s.removeSSHKey},
		{Method: "GET", Path: "/apps/{app}/ssh", Access: user, Summary: "How to reach an app over SSH: the ssh command, the git remote, its settings",
			Response: api.AppSSH{}, Status: http.StatusOK, Handle: s.getAppSSH},
		{Method: "PATCH", Path: "/apps/{app}/ssh", Access: user, Summary: "Set or clear an app's SSH password, or the branch a git push deploys",
			Request: api.UpdateAppSSHRequest{}, Response: api.AppSSH{}, Status: http.StatusOK, Handle: s.updateAppSSH},
		{Method: "POST", Path: "/apps/{app}/exec", Access: user, Summary: "Run a process in an app's container: upgrades the connection (Upgrade: gasper-exec) to an exec stream",
			Query: []string{"instance"}, Status: http.StatusSwitchingProtocols, Stream: s.execApp},

		{Method: "GET", Path: "/certificates", Access: admin, Summary: "Certificates uploaded for custom domains",
			Response: []api.Certificate{}, Status: http.StatusOK, Handle: s.listCertificates},
		{Method: "POST", Path: "/certificates", Access: admin, Summary: "Upload a certificate and key for custom domains (replaces one of the same name)",
			Request: api.CertificateRequest{}, Response: api.Certificate{}, Status: http.StatusCreated, Handle: s.addCertificate},
		{Method: "DELETE", Path: "/certificates/{name}", Access: admin, Summary: "Remove an uploaded certificate",
			Status: http.StatusNoContent, Handle: s.removeCertificate},

		{Method: "GET", Path: "/audit", Access: admin, Summary: "The audit log, newest first",
			Response: []api.AuditEvent{}, Status: http.StatusOK, Query: []string{"limit"}, Handle: s.listAudit},
	}
}
