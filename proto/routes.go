package proto

// Routes the proxy and dns roles serve to the master.
const (
	// PathRoutes (PUT RouteTable) replaces the proxy role's routing table.
	PathRoutes = "/v1/routes"
	// PathZone (PUT Zone) replaces the dns role's records.
	PathZone = "/v1/zone"
)

// RouteTable is everything a proxy needs to route: it is pushed whole on
// every change, and kept on disk by the proxy so it routes with its last
// table while the master is away.
type RouteTable struct {
	// Version increases with every table the master computes.
	Version uint64 `json:"version"`
	// Domain is the cloud domain: app NAME answers at NAME.Domain.
	Domain string  `json:"domain"`
	Routes []Route `json:"routes"`
	// Certificates are served by SNI: the cloud CA's certificate for
	// *.Domain and operators' uploads for custom domains.
	Certificates []Certificate `json:"certificates,omitempty"`
	// ACME, when set, gets certificates for the listed hosts from an ACME
	// server (HTTP-01 through the proxy's HTTP port).
	ACME *ACME `json:"acme,omitempty"`
}

// Route sends the requests for some host names to an app's instances.
type Route struct {
	App string `json:"app"`
	// Hosts are the names it answers (NAME.Domain and custom domains),
	// lower-case, without port.
	Hosts []string `json:"hosts"`
	// Backends are host:port of the app's healthy instances, on any node.
	Backends []string `json:"backends"`
	// RedirectHTTPS makes plain-HTTP requests redirect to HTTPS.
	RedirectHTTPS bool `json:"redirect_https,omitempty"`
}

// Certificate is a PEM certificate chain and key for some host names
// (wildcards allowed).
type Certificate struct {
	Hosts   []string `json:"hosts"`
	CertPEM string   `json:"cert_pem"`
	KeyPEM  string   `json:"key_pem"`
}

// ACME configures certificates from an ACME server.
type ACME struct {
	DirectoryURL string `json:"directory_url"`
	Email        string `json:"email,omitempty"`
	// RootPEM, if set, is the only root trusted for the ACME server itself
	// (a private or test ACME server).
	RootPEM string `json:"root_pem,omitempty"`
	// Hosts are the names to get certificates for.
	Hosts []string `json:"hosts"`
}

// Zone is what the dns role answers for the cloud domain. It is pushed
// whole on every change and kept on disk.
type Zone struct {
	Version uint64 `json:"version"`
	// Domain is the cloud domain, e.g. "apps.example.com".
	Domain string `json:"domain"`
	// TTL is the TTL of every answer, in seconds.
	TTL uint32 `json:"ttl"`
	// Proxies are the addresses (IPv4 or IPv6) of the live proxy nodes:
	// every app name and custom domain answers with them, in rotated order.
	Proxies []string `json:"proxies"`
	// Apps are the app names (NAME.Domain answers with Proxies).
	Apps []string `json:"apps"`
	// CustomDomains are fully qualified names that answer with Proxies.
	CustomDomains []string `json:"custom_domains,omitempty"`
	// Records are other names, relative to Domain ("master",
	// "mydb.db"), with their addresses.
	Records map[string][]string `json:"records,omitempty"`
	// Nameservers are the addresses of the dns nodes, for NS and SOA.
	Nameservers []string `json:"nameservers"`
}
