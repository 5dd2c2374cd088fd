package layout

import "io/fs"

// Paths of an installed agent. install.sh, the maintainer scripts and the
// systemd unit spell the same paths out; the firmwaretest package checks
// that they agree.
const (
	User            = "ood-agent"
	BinaryPath      = "/usr/bin/ood-agent"
	ConfigDir       = "/etc/ood-agent"
	ConfigPath      = "/etc/ood-agent/agent.yaml"
	StateDir        = "/var/lib/ood-agent"
	DebUnitPath     = "/lib/systemd/system/ood-agent.service"
	OverlayUnitPath = "/usr/lib/systemd/system/ood-agent.service"
	SysusersPath    = "/usr/lib/sysusers.d/ood-agent.conf"
	// WantsLink enables the unit the way systemctl enable would, for images
	// assembled without running systemctl.
	WantsLink = "/etc/systemd/system/multi-user.target.wants/ood-agent.service"
	// The hub's unit and configuration (docs/hub.md); the unit is not
	// enabled by the package.
	HubUnitPath   = "/lib/systemd/system/ood-agent-hub.service"
	HubConfigPath = "/etc/ood-agent/hub.yaml"
)

// Source says where an entry's content comes from.
type Source int

// Sources of entry contents. A directory or symlink has no source.
const (
	NoSource  Source = iota
	Binary           // the cross-compiled ood-agent executable
	Unit             // firmware-scripts/ood-agent.service
	Config           // the installed default configuration (see SystemConfig)
	Sysusers         // firmware-scripts/ood-agent.sysusers
	HubUnit          // firmware-scripts/deb/ood-agent-hub.service
	HubConfig        // config/hub.example.yaml
)

// Entry is one file, directory or symlink of an installed agent.
type Entry struct {
	Path   string      // absolute path on the device
	Mode   fs.FileMode // permission bits, with fs.ModeDir or fs.ModeSymlink for those
	Source Source      // content of a regular file
	Target string      // target of a symlink
	// Conffile marks files a package manager must not overwrite once the
	// administrator has edited them.
	Conffile bool
}

// Deb returns the entries of the Debian package. The maintainer scripts
// create the user, hand the state directory to it and enable the unit.
func Deb() []Entry {
	return []Entry{
		{Path: BinaryPath, Mode: 0o755, Source: Binary},
		{Path: DebUnitPath, Mode: 0o644, Source: Unit},
		{Path: ConfigDir, Mode: fs.ModeDir | 0o755},
		{Path: ConfigPath, Mode: 0o644, Source: Config, Conffile: true},
		{Path: StateDir, Mode: fs.ModeDir | 0o750},
		{Path: HubUnitPath, Mode: 0o644, Source: HubUnit},
		{Path: HubConfigPath, Mode: 0o644, Source: HubConfig, Conffile: true},
	}
}

// Overlay returns the entries of the rootfs overlay for Buildroot and
// Yocto images, which run no maintainer scripts: systemd-sysusers creates
// the user at boot, StateDirectory= in the unit hands the state directory
// to it on first start, and the wants symlink enables the unit. The unit
// lives under /usr/lib, which systemd searches whether or not /lib is
// merged into /usr.
func Overlay() []Entry {
	return []Entry{
		{Path: BinaryPath, Mode: 0o755, Source: Binary},
		{Path: OverlayUnitPath, Mode: 0o644, Source: Unit},
		{Path: SysusersPath, Mode: 0o644, Source: Sysusers},
		{Path: WantsLink, Mode: fs.ModeSymlink | 0o777, Target: OverlayUnitPath},
		{Path: ConfigDir, Mode: fs.ModeDir | 0o755},
		{Path: ConfigPath, Mode: 0o644, Source: Config, Conffile: true},
		{Path: StateDir, Mode: fs.ModeDir | 0o750},
	}
}
