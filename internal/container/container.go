package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Spec describes a container to create.
type Spec struct {
	// ID names the container: a DNS label of at most 63 characters (see ValidateID).
	ID string
	// Image is the name of an image already in the driver's namespace.
	Image string
	// Args replaces the image's entrypoint and command when not empty.
	Args []string
	// Env holds KEY=VALUE pairs added to (or overriding) the image's environment.
	Env []string
	// WorkDir replaces the image's working directory when not empty.
	WorkDir string
	// Labels are stored with the container and returned by Status and List (e.g. gasper.app).
	// Keys starting with "gasper.driver/" are reserved for the driver.
	Labels map[string]string
	// MemoryBytes is the cgroup memory limit (0: none). Swap is limited to the same value, so the
	// container cannot swap beyond it.
	MemoryBytes int64
	// CPUs is the CFS CPU quota in cores, e.g. 0.5 (0: none).
	CPUs float64
	// Ports are published on the driver's HostIP.
	Ports []Port
	// Mounts are bind mounts from the host: the only host paths the container sees.
	Mounts []Mount
	// Hostname is the container's host name (default: ID).
	Hostname string
	// Init runs HostInit as PID 1 in front of Args, the way `docker run
	// --init` does.
	Init bool
	// DNS, when set, replaces the driver's nameservers in this container's
	// resolv.conf; DNSSearch adds search domains.
	DNS       []string
	DNSSearch []string
}

// Port is a published port. In Status, HostPort is the port actually published.
type Port struct {
	// ContainerPort is the port the process listens on inside the container.
	ContainerPort int
	// HostPort is the port on the driver's HostIP (0 in a Spec: a free one is chosen at Start).
	HostPort int
	// Protocol is "tcp" (default) or "udp".
	Protocol string
}

// Mount is a bind mount of a host path into the container.
type Mount struct {
	// Source is the absolute host path.
	Source string
	// Target is the absolute path inside the container.
	Target string
	// ReadOnly mounts it read-only.
	ReadOnly bool
}

// Container states reported in Status.State.
const (
	StateCreated = "created"
	StateRunning = "running"
	StateStopped = "stopped"
	StateUnknown = "unknown"
)

// Status is what the driver knows about a container, live from containerd and the kernel.
type Status struct {
	// ID is the container id.
	ID string
	// Image is the image the container was created from.
	Image string
	// Labels are the Spec's labels.
	Labels map[string]string
	// State is one of StateCreated, StateRunning, StateStopped, StateUnknown.
	State string
	// Pid is the host pid of the container's process while it runs.
	Pid uint32
	// IP is the container's address on the node bridge while it runs.
	IP string
	// Ports are the published ports with their actual host ports, while it runs.
	Ports []Port
	// StartedAt is when the driver last started the container.
	StartedAt time.Time
	// ExitedAt is when the process last exited (zero while it runs).
	ExitedAt time.Time
	// ExitCode is the last exit code (128+signal when killed by a signal).
	ExitCode int
	// OOMKilled reports that the kernel killed a process of the container for exceeding its memory
	// limit during its last run.
	OOMKilled bool
}

// ExitEvent reports that a container's process exited.
type ExitEvent struct {
	// ID is the container id.
	ID string
	// ExitCode is the exit code (128+signal when killed by a signal).
	ExitCode int
	// ExitedAt is when it exited.
	ExitedAt time.Time
	// OOMKilled reports that the kernel killed a process of the container for exceeding its memory
	// limit.
	OOMKilled bool
	// Err is set when waiting failed (the exit was then not observed).
	Err error
}

// Labels the driver keeps on containers for itself, so a later Driver can re-adopt them.
const (
	labelPrefix    = "gasper.driver/"
	labelPorts     = labelPrefix + "ports"      // requested ports (JSON)
	labelHostPorts = labelPrefix + "host-ports" // ports as published by the last Start (JSON)
	labelIP        = labelPrefix + "ip"
	labelStartedAt = labelPrefix + "started-at"
)

func validateSpec(s Spec) error {
	if err := ValidateID(s.ID); err != nil {
		return err
	}
	if s.Image == "" {
		return fmt.Errorf("container %s: image is required", s.ID)
	}
	for k := range s.Labels {
		if strings.HasPrefix(k, labelPrefix) {
			return fmt.Errorf("container %s: label %q uses the driver's reserved prefix", s.ID, k)
		}
	}
	if s.MemoryBytes < 0 || s.CPUs < 0 {
		return fmt.Errorf("container %s: negative resource limit", s.ID)
	}
	for _, p := range s.Ports {
		if p.ContainerPort < 1 || p.ContainerPort > 65535 || p.HostPort < 0 || p.HostPort > 65535 {
			return fmt.Errorf("container %s: port %d:%d out of range", s.ID, p.HostPort, p.ContainerPort)
		}
		if p.Protocol != "" && p.Protocol != "tcp" && p.Protocol != "udp" {
			return fmt.Errorf("container %s: protocol %q: want tcp or udp", s.ID, p.Protocol)
		}
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return fmt.Errorf("container %s: mount %s:%s: paths must be absolute", s.ID, m.Source, m.Target)
		}
	}
	for _, ns := range s.DNS {
		if net.ParseIP(ns) == nil {
			return fmt.Errorf("container %s: nameserver %q is not an IP address", s.ID, ns)
		}
	}
	for _, dom := range s.DNSSearch {
		if dom == "" || strings.ContainsAny(dom, " \t\n") {
			return fmt.Errorf("container %s: search domain %q is not valid", s.ID, dom)
		}
	}
	for _, e := range s.Env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("container %s: env %q: want KEY=VALUE", s.ID, e)
		}
	}
	return nil
}

// Create creates the container and its root filesystem snapshot without starting it. It fails
// with ErrExists when the id is taken and ErrInvalidID when the id is malformed.
func (d *Driver) Create(ctx context.Context, s Spec) error {
	if err := validateSpec(s); err != nil {
		return err
	}
	for i := range s.Ports {
		if s.Ports[i].Protocol == "" {
			s.Ports[i].Protocol = "tcp"
		}
	}
	defer d.lock(s.ID)()
	if _, err := d.client.LoadContainer(ctx, s.ID); err == nil {
		return fmt.Errorf("creating container %s: %w in namespace %s", s.ID, ErrExists, d.cfg.Namespace)
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("creating container %s: %w", s.ID, err)
	}
	img, err := d.client.GetImage(ctx, s.Image)
	if err != nil {
		return fmt.Errorf("creating container %s: looking up image %s in namespace %s: %w", s.ID, s.Image, d.cfg.Namespace, err)
	}
	if ok, err := img.IsUnpacked(ctx, snapshotter); err != nil || !ok {
		if err := img.Unpack(ctx, snapshotter); err != nil {
			return fmt.Errorf("creating container %s: unpacking image %s: %w", s.ID, s.Image, err)
		}
	}
	hostname := s.Hostname
	if hostname == "" {
		hostname = s.ID
	}
	files, err := d.writeContainerFiles(s.ID, hostname, s.DNS, s.DNSSearch)
	if err != nil {
		return fmt.Errorf("creating container %s: %w", s.ID, err)
	}

	mounts := files
	for _, m := range s.Mounts {
		opt := "rw"
		if m.ReadOnly {
			opt = "ro"
		}
		mounts = append(mounts, specs.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: []string{"rbind", opt}})
	}
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithHostname(hostname),
		oci.WithNoNewPrivileges,
		seccomp.WithDefaultProfile(),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: d.netnsPath(s.ID)}),
		oci.WithMounts(mounts),
	}
	if s.Init {
		if _, err := os.Stat(HostInit); err != nil {
			return fmt.Errorf("creating container %s: the init process %s is missing: install it with apt-get install tini", s.ID, HostInit)
		}
		if len(s.Args) == 0 {
			return fmt.Errorf("creating container %s: Init needs Args", s.ID)
		}
		mounts = append(mounts, specs.Mount{Type: "bind", Source: HostInit, Destination: initPath, Options: []string{"rbind", "ro"}})
		opts[len(opts)-1] = oci.WithMounts(mounts)
		// -g: signals go to the whole process group, so a `sh -c` wrapper
		// does not swallow the SIGTERM meant for the app.
		s.Args = append([]string{initPath, "-g", "--"}, s.Args...)
	}
	if len(s.Args) > 0 {
		opts = append(opts, oci.WithProcessArgs(s.Args...))
	}
	if len(s.Env) > 0 {
		opts = append(opts, oci.WithEnv(s.Env))
	}
	if s.WorkDir != "" {
		opts = append(opts, oci.WithProcessCwd(s.WorkDir))
	}
	if s.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(s.MemoryBytes)))
		if swapLimitSupported() {
			// OCI's swap is memory+swap: equal to the limit means no swap at all.
			opts = append(opts, oci.WithMemorySwap(s.MemoryBytes))
		}
	}
	if s.CPUs > 0 {
		const period = 100000
		opts = append(opts, oci.WithCPUCFS(int64(s.CPUs*period), period))
	}

	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	ports, err := json.Marshal(s.Ports)
	if err != nil {
		return fmt.Errorf("creating container %s: encoding ports: %w", s.ID, err)
	}
	labels[labelPorts] = string(ports)

	_, err = d.client.NewContainer(ctx, s.ID,
		containerd.WithImage(img),
		containerd.WithSnapshotter(snapshotter),
		containerd.WithNewSnapshot(s.ID, img),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		os.RemoveAll(d.filesDir(s.ID))
		if errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("creating container %s: %w in namespace %s: %v", s.ID, ErrExists, d.cfg.Namespace, err)
		}
		return fmt.Errorf("creating container %s: %w", s.ID, err)
	}
	d.log.Info("container created", "container", s.ID, "image", s.Image)
	return nil
}

// writeContainerFiles writes the container's resolv.conf, hosts and hostname files and returns
// the bind mounts that put them in place.
func (d *Driver) writeContainerFiles(id, hostname string, nameservers, search []string) ([]specs.Mount, error) {
	dir := d.filesDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating files dir: %w", err)
	}
	if len(nameservers) == 0 {
		nameservers = d.dns
	}
	var resolv strings.Builder
	if len(search) > 0 {
		fmt.Fprintf(&resolv, "search %s\n", strings.Join(search, " "))
	}
	for _, ns := range nameservers {
		fmt.Fprintf(&resolv, "nameserver %s\n", ns)
	}
	files := map[string]string{
		"resolv.conf": resolv.String(),
		"hostname":    hostname + "\n",
		"hosts":       hostsFile(hostname, ""),
	}
	var mounts []specs.Mount
	for _, name := range []string{"resolv.conf", "hostname", "hosts"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			return nil, fmt.Errorf("writing %s: %w", name, err)
		}
		mounts = append(mounts, specs.Mount{Type: "bind", Source: p, Destination: "/etc/" + name, Options: []string{"rbind", "ro"}})
	}
	return mounts, nil
}

func hostsFile(hostname, ip string) string {
	s := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if ip != "" {
		s += ip + "\t" + hostname + "\n"
	}
	return s
}

// load returns the container or an error wrapping ErrNotFound.
func (d *Driver) load(ctx context.Context, id string) (containerd.Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	c, err := d.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("container %s in namespace %s: %w", id, d.cfg.Namespace, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("loading container %s: %w", id, err)
	}
	return c, nil
}

// task returns the container's task, or nil when it has none.
func task(ctx context.Context, c containerd.Container) (containerd.Task, error) {
	t, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading task of %s: %w", c.ID(), err)
	}
	return t, nil
}

// Start starts the container: it attaches it to the node's bridge with its published ports,
// then starts its process with stdout and stderr appended to StateDir/logs/<id>.log by
// containerd's shim (so logging outlives the agent). Starting a running container returns its
// Status; a stopped one is started afresh.
func (d *Driver) Start(ctx context.Context, id string) (Status, error) {
	c, err := d.load(ctx, id)
	if err != nil {
		return Status{}, err
	}
	unlock := d.lock(id)
	if err := d.start(ctx, c); err != nil {
		unlock()
		return Status{}, err
	}
	unlock()
	return d.status(ctx, c)
}

func (d *Driver) start(ctx context.Context, c containerd.Container) error {
	id := c.ID()
	t, err := task(ctx, c)
	if err != nil {
		return err
	}
	if t != nil {
		st, err := t.Status(ctx)
		if err != nil {
			return fmt.Errorf("starting container %s: reading task status: %w", id, err)
		}
		if st.Status == containerd.Running {
			return nil
		}
		if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("starting container %s: deleting previous task: %w", id, err)
		}
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("starting container %s: reading labels: %w", id, err)
	}
	var want []Port
	if err := json.Unmarshal([]byte(labels[labelPorts]), &want); err != nil && labels[labelPorts] != "" {
		return fmt.Errorf("starting container %s: decoding ports label: %w", id, err)
	}
	// A process that exited on its own leaves its network attached: release it first.
	d.teardownNetwork(ctx, id, decodePorts(labels[labelHostPorts]))

	d.portMu.Lock()
	ports, err := d.assignHostPorts(want)
	if err != nil {
		d.portMu.Unlock()
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	ip, err := d.setupNetwork(ctx, id, ports)
	d.portMu.Unlock()
	if err != nil {
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	fail := func(err error) error {
		d.teardownNetwork(context.WithoutCancel(ctx), id, ports)
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return fail(fmt.Errorf("reading spec: %w", err))
	}
	if err := os.WriteFile(filepath.Join(d.filesDir(id), "hosts"), []byte(hostsFile(spec.Hostname, ip)), 0o644); err != nil {
		return fail(fmt.Errorf("writing hosts file: %w", err))
	}
	hostPorts, _ := json.Marshal(ports)
	if _, err := c.SetLabels(ctx, map[string]string{
		labelIP:        ip,
		labelHostPorts: string(hostPorts),
		labelStartedAt: time.Now().UTC().Format(time.RFC3339Nano),
	}); err != nil {
		return fail(fmt.Errorf("recording network labels: %w", err))
	}
	t, err = c.NewTask(ctx, cio.LogFile(d.logPath(id)))
	if err != nil {
		return fail(fmt.Errorf("creating task: %w", err))
	}
	if err := t.Start(ctx); err != nil {
		t.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		return fail(fmt.Errorf("starting task: %w", err))
	}
	d.log.Info("container started", "container", id, "ip", ip, "pid", t.Pid())
	return nil
}

func decodePorts(s string) []Port {
	var p []Port
	if s != "" {
		json.Unmarshal([]byte(s), &p)
	}
	return p
}

// Stop sends SIGTERM to the container's process, SIGKILL to all its processes after grace, waits
// for the exit and detaches it from the network. The stopped task is kept so Status reports the
// exit code. Stopping a stopped container only makes sure its network is released.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	c, err := d.load(ctx, id)
	if err != nil {
		return err
	}
	defer d.lock(id)()
	return d.stop(ctx, c, grace)
}

func (d *Driver) stop(ctx context.Context, c containerd.Container, grace time.Duration) error {
	id := c.ID()
	t, err := task(ctx, c)
	if err != nil {
		return err
	}
	if t != nil {
		if err := killAndWait(ctx, t, grace); err != nil {
			return fmt.Errorf("stopping container %s: %w", id, err)
		}
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("stopping container %s: reading labels: %w", id, err)
	}
	if err := d.teardownNetwork(ctx, id, decodePorts(labels[labelHostPorts])); err != nil {
		return fmt.Errorf("stopping container %s: %w", id, err)
	}
	d.log.Info("container stopped", "container", id)
	return nil
}

// killAndWait ends a task's processes: SIGTERM, then SIGKILL to all after grace.
func killAndWait(ctx context.Context, t containerd.Task, grace time.Duration) error {
	st, err := t.Status(ctx)
	if err != nil {
		return fmt.Errorf("reading task status: %w", err)
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	exited, err := t.Wait(ctx)
	if err != nil {
		return fmt.Errorf("waiting for task: %w", err)
	}
	if grace > 0 {
		if err := t.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("sending SIGTERM: %w", err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exited:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := t.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("sending SIGKILL: %w", err)
	}
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-exited:
		return nil
	case <-timer.C:
		return errors.New("process did not exit within 30s of SIGKILL")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Remove kills the container if it runs (call Stop first for a graceful stop) and deletes its
// task, container, snapshot, network state, files and log. Removing an unknown id succeeds.
func (d *Driver) Remove(ctx context.Context, id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	defer d.lock(id)()
	c, err := d.client.LoadContainer(ctx, id)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("removing container %s: %w", id, err)
	default:
		if err := d.stop(ctx, c, 0); err != nil {
			return fmt.Errorf("removing container %s: %w", id, err)
		}
		if t, err := task(ctx, c); err != nil {
			return fmt.Errorf("removing container %s: %w", id, err)
		} else if t != nil {
			if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("removing container %s: deleting task: %w", id, err)
			}
		}
		if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("removing container %s: %w", id, err)
		}
	}
	// Leftovers of a crash half-way through Create or Start.
	if err := d.teardownNetwork(ctx, id, nil); err != nil {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	if err := os.RemoveAll(d.filesDir(id)); err != nil {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	if err := os.Remove(d.logPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	d.log.Info("container removed", "container", id)
	return nil
}

// Status reports the container's state, read from containerd and the kernel, so it also covers
// containers started by an earlier process.
func (d *Driver) Status(ctx context.Context, id string) (Status, error) {
	c, err := d.load(ctx, id)
	if err != nil {
		return Status{}, err
	}
	return d.status(ctx, c)
}

func (d *Driver) status(ctx context.Context, c containerd.Container) (Status, error) {
	id := c.ID()
	info, err := c.Info(ctx)
	if errdefs.IsNotFound(err) {
		return Status{}, fmt.Errorf("container %s in namespace %s: %w", id, d.cfg.Namespace, ErrNotFound)
	}
	if err != nil {
		return Status{}, fmt.Errorf("reading container %s: %w", id, err)
	}
	st := Status{ID: id, Image: info.Image, Labels: map[string]string{}, State: StateCreated}
	for k, v := range info.Labels {
		if !strings.HasPrefix(k, labelPrefix) {
			st.Labels[k] = v
		}
	}
	t, err := task(ctx, c)
	if err != nil {
		return Status{}, err
	}
	if t == nil {
		return st, nil
	}
	ts, err := t.Status(ctx)
	if errdefs.IsNotFound(err) {
		return st, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("reading task status of %s: %w", id, err)
	}
	st.StartedAt, _ = time.Parse(time.RFC3339Nano, info.Labels[labelStartedAt])
	switch ts.Status {
	case containerd.Created:
		st.State = StateCreated
	case containerd.Running:
		st.State = StateRunning
		st.Pid = t.Pid()
		st.IP = info.Labels[labelIP]
		st.Ports = decodePorts(info.Labels[labelHostPorts])
	case containerd.Stopped:
		st.State = StateStopped
		st.ExitCode = int(ts.ExitStatus)
		st.ExitedAt = ts.ExitTime
	default:
		st.State = StateUnknown
	}
	if info.Spec != nil {
		var spec specs.Spec
		if err := json.Unmarshal(info.Spec.GetValue(), &spec); err == nil && spec.Linux != nil {
			st.OOMKilled = oomKills(spec.Linux.CgroupsPath) > 0
		}
	}
	return st, nil
}

// List returns the containers of the driver's namespace that carry all the given labels.
func (d *Driver) List(ctx context.Context, labels map[string]string) ([]Status, error) {
	cs, err := d.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing containers in namespace %s: %w", d.cfg.Namespace, err)
	}
	var out []Status
	for _, c := range cs {
		st, err := d.status(ctx, c)
		if errors.Is(err, ErrNotFound) {
			continue // removed while listing
		}
		if err != nil {
			return nil, err
		}
		match := true
		for k, v := range labels {
			if got, ok := st.Labels[k]; !ok || got != v {
				match = false
				break
			}
		}
		if match {
			out = append(out, st)
		}
	}
	return out, nil
}

// Wait returns a channel that receives one ExitEvent when the container's current process exits
// (at once if it already has) and is then closed. It fails when the container was never started.
// Cancelling ctx closes the channel without an event.
func (d *Driver) Wait(ctx context.Context, id string) (<-chan ExitEvent, error) {
	c, err := d.load(ctx, id)
	if err != nil {
		return nil, err
	}
	t, err := task(ctx, c)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("waiting for container %s: it has not been started", id)
	}
	exited, err := t.Wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("waiting for container %s: %w", id, err)
	}
	out := make(chan ExitEvent, 1)
	go func() {
		defer close(out)
		select {
		case es := <-exited:
			ev := ExitEvent{ID: id}
			code, at, err := es.Result()
			ev.ExitCode, ev.ExitedAt, ev.Err = int(code), at, err
			if spec, err := c.Spec(context.WithoutCancel(ctx)); err == nil && spec.Linux != nil {
				ev.OOMKilled = oomKills(spec.Linux.CgroupsPath) > 0
			}
			out <- ev
		case <-ctx.Done():
		}
	}()
	return out, nil
}
