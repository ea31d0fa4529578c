//! Host tests. What needs privileges runs in a child process inside fresh network and mount
//! namespaces (`unshare -m -n`), so the host's interfaces, routes and mounts are never touched.

use super::*;
use rustix::io::Errno;
use std::process::Command;

const ENOENT: i32 = Errno::NOENT.raw_os_error();
const ENODEV: i32 = Errno::NODEV.raw_os_error();
const ENETUNREACH: i32 = Errno::NETUNREACH.raw_os_error();

/// Set in the child that runs [`netns_body`]; without it that test does nothing.
const CHILD_ENV: &str = "EDGELOOP_DEVICE_NETNS_CHILD";

#[test]
fn interface_names_are_checked_before_any_syscall() {
    for name in ["", "sixteen-bytes-xx", "a\0b"] {
        assert_eq!(
            interface_up(name, None),
            Err(DeviceError::InvalidInterfaceName)
        );
        assert_eq!(
            interface_is_up(name),
            Err(DeviceError::InvalidInterfaceName)
        );
    }
}

#[test]
fn missing_module_file_is_an_open_error() {
    assert_eq!(
        load_module("/nonexistent/edgeloop/virtio_net.ko"),
        Err(DeviceError::OpenModule(ENOENT))
    );
    let long = "/x".repeat(200);
    assert!(matches!(
        load_module(&long),
        Err(DeviceError::OpenModule(_))
    ));
}

#[test]
fn a_file_that_is_not_a_module_is_refused() {
    let path =
        std::env::temp_dir().join(format!("edgeloop-not-a-module-{}.ko", std::process::id()));
    std::fs::write(&path, b"this is not an ELF relocatable object").unwrap();
    let result = load_module(path.to_str().unwrap());
    std::fs::remove_file(&path).unwrap();
    // EPERM without CAP_SYS_MODULE, ENOEXEC (or EINVAL/EBADMSG) from a kernel that looked.
    assert!(
        matches!(result, Err(DeviceError::LoadModule(_))),
        "{result:?}"
    );
}

#[test]
fn a_test_process_is_not_pid1() {
    assert!(!is_pid1());
}

#[test]
fn boot_reports_the_failing_step() {
    const PLAN: BootPlan = BootPlan {
        modules: &["/nonexistent/edgeloop/a.ko"],
        interfaces: &[],
        gateway: None,
    };
    // Mounting is skipped where everything is mounted already; where it is not (no privilege)
    // the step is "mount". Either way the error names its step.
    let err = boot(&PLAN).unwrap_err();
    assert!(
        err == BootError {
            step: "/nonexistent/edgeloop/a.ko",
            error: DeviceError::OpenModule(ENOENT)
        } || err.step == "mount",
        "{err:?}"
    );
}

#[test]
fn errors_display_step_and_errno_name() {
    let e = BootError {
        step: "eth0",
        error: DeviceError::SetAddress(ENODEV),
    };
    assert_eq!(e.to_string(), "eth0: cannot set the address: ENODEV");
    assert_eq!(
        DeviceError::Mount {
            target: "/proc",
            errno: 1
        }
        .to_string(),
        "cannot mount /proc: EPERM"
    );
    assert_eq!(
        DeviceError::LoadModule(9999).to_string(),
        "the kernel refused the module: errno 9999"
    );
    assert_eq!(DeviceError::InvalidInterfaceName.errno(), None);
    assert_eq!(DeviceError::AddRoute(7).errno(), Some(7));
}

#[test]
fn qemu_plan_matches_the_initramfs_layout() {
    let names: Vec<&str> = QEMU_VIRT
        .modules
        .iter()
        .map(|p| p.strip_prefix("/lib/modules/").unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "virtio_ring.ko",
            "virtio.ko",
            "virtio_mmio.ko",
            "failover.ko",
            "net_failover.ko",
            "virtio_net.ko",
            "virtio_console.ko"
        ]
    );
    assert_eq!(QEMU_VIRT.interfaces[1].name, "eth0");
}

#[test]
fn port_names_are_checked_before_any_syscall() {
    let long = "p".repeat(MAX_PORT_NAME + 1);
    for name in ["", "a\0b", "a\nb", long.as_str()] {
        assert_eq!(
            find_virtio_port(name, 1000),
            Err(DeviceError::InvalidPortName),
            "{name:?}"
        );
    }
    assert_eq!(
        DeviceError::InvalidPortName.to_string(),
        "invalid virtio port name (1 to 63 bytes, no NUL or newline)"
    );
}

#[test]
fn no_virtio_ports_on_this_host() {
    // A development host or CI runner has no virtio_console ports with this name; without the
    // driver the answer comes at once, without waiting.
    let started = std::time::Instant::now();
    let result = find_virtio_port(DEFMT_PORT, 0);
    assert!(
        matches!(
            result,
            Err(DeviceError::ListPorts(ENOENT) | DeviceError::NoSuchPort)
        ),
        "{result:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(
        DeviceError::ListPorts(ENOENT).to_string(),
        "cannot list the virtio ports: ENOENT"
    );
    assert_eq!(DeviceError::NoSuchPort.errno(), None);
    assert_eq!(DeviceError::OpenPort(16).errno(), Some(16));
}

/// A directory laid out like `/sys/class/virtio-ports`, removed when dropped.
struct FakePorts(std::path::PathBuf);

impl FakePorts {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "edgeloop-virtio-ports-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        FakePorts(dir)
    }

    /// A port directory, with a `name` attribute when `name` is `Some` (as the kernel shows it).
    fn port(&self, port: &str, name: Option<&str>) {
        let dir = self.0.join(port);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(name) = name {
            std::fs::write(dir.join("name"), format!("{name}\n")).unwrap();
        }
    }

    fn find(&self, name: &str, wait_ms: u32) -> Result<VirtioPort, DeviceError> {
        port::find_port_in(self.0.to_str().unwrap(), name, wait_ms)
    }
}

impl Drop for FakePorts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn finds_a_port_by_the_name_the_host_gave_it() {
    let ports = FakePorts::new("find");
    ports.port("vport0p0", Some("org.qemu.guest_agent.0"));
    ports.port("vport1p1", None); // its name has not arrived yet
    ports.port("vport1p2", Some("edgeloop.defmt.old"));
    ports.port("vport1p3", Some("edgeloop.defmt"));
    ports.port("notaport", Some("edgeloop.defmt"));
    let found = ports.find("edgeloop.defmt", 0).unwrap();
    assert_eq!(found.path(), "/dev/vport1p3");
    assert_eq!(
        ports.find("org.qemu.guest_agent.0", 0).unwrap().path(),
        "/dev/vport0p0"
    );
    // A prefix of a name is not the name.
    assert_eq!(ports.find("edgeloop", 0), Err(DeviceError::NoSuchPort));
    // Nobody named it: the search gives up after about the wait.
    let started = std::time::Instant::now();
    assert_eq!(ports.find("absent", 50), Err(DeviceError::NoSuchPort));
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
    // The device node does not exist on this host.
    assert_eq!(found.open().unwrap_err(), DeviceError::OpenPort(ENOENT));
}

#[test]
fn waits_for_a_name_that_arrives_late() {
    let ports = FakePorts::new("late");
    ports.port("vport2p1", None);
    let dir = ports.0.clone();
    let host = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(60));
        std::fs::write(dir.join("vport2p1").join("name"), "edgeloop.defmt\n").unwrap();
    });
    let found = ports.find("edgeloop.defmt", 2000);
    host.join().unwrap();
    assert_eq!(found.unwrap().path(), "/dev/vport2p1");
}

#[test]
fn a_missing_port_list_is_an_error_at_once() {
    let ports = FakePorts::new("gone");
    std::fs::remove_dir(&ports.0).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        ports.find("edgeloop.defmt", 5000),
        Err(DeviceError::ListPorts(ENOENT))
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

/// Runs [`netns_body`] in a child process inside new mount and network namespaces.
#[test]
fn interfaces_routes_and_mounts_in_a_fresh_network_namespace() {
    let Some(unshare) = find_unshare() else {
        eprintln!("skipped: no usable `unshare -m -n` here (not installed or not permitted)");
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(&unshare[0]);
    cmd.args(&unshare[1..]);
    // Under qemu-user the test binary is not a host executable: run it through the emulator.
    if let Ok(runner) = std::env::var("EDGELOOP_TEST_RUNNER") {
        cmd.args(runner.split_whitespace());
    }
    cmd.arg(exe)
        .args([
            "--exact",
            "device::tests::netns_body",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // An exact filter that matches nothing also "succeeds": make sure the body ran.
    assert!(
        stdout.contains("1 passed"),
        "child ran no test:\n{stdout}\n{stderr}"
    );
}

/// `unshare` with the flags that work here: `-m -n` as root, `-r -m -n` (a user namespace) for
/// others; `None` if neither runs.
fn find_unshare() -> Option<Vec<String>> {
    for flags in [&["-m", "-n"][..], &["-r", "-m", "-n"][..]] {
        let ok = Command::new("unshare")
            .args(flags)
            .arg("true")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            let mut v = vec!["unshare".to_string()];
            v.extend(flags.iter().map(|s| s.to_string()));
            return Some(v);
        }
    }
    None
}

/// The privileged part; only does something in the namespaced child (see above).
#[test]
#[ignore = "runs in a child process inside fresh namespaces (see the test above)"]
fn netns_body() {
    if std::env::var_os(CHILD_ENV).is_none() {
        eprintln!("netns_body only runs in the child started by the namespace test");
        return;
    }
    // Already mounted (the host's /proc, /sys, /dev; /tmp maybe): nothing to do, twice.
    mount_pseudo_filesystems().unwrap();
    mount_pseudo_filesystems().unwrap();
    assert!(std::path::Path::new("/proc/self/stat").exists());

    // A new network namespace has only `lo`, down, with no address.
    assert_eq!(interface_is_up("lo"), Ok(false));
    let lo = Some((Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(255, 0, 0, 0)));
    interface_up("lo", lo).unwrap();
    assert_eq!(interface_is_up("lo"), Ok(true));
    interface_up("lo", lo).unwrap(); // again: no error
    interface_up("lo", None).unwrap();

    // Loopback TCP works now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    use std::io::{Read, Write};
    client.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");

    // 127.0.0.0/8 is local: another 127.x address answers (with a reset: nobody listens).
    let err = std::net::TcpStream::connect((Ipv4Addr::new(127, 1, 2, 3), addr.port())).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

    // No such interface.
    assert_eq!(
        interface_up("nosuch0", None),
        Err(DeviceError::GetFlags(ENODEV))
    );
    assert_eq!(
        interface_up("nosuch0", lo),
        Err(DeviceError::SetAddress(ENODEV))
    );

    // A gateway on no subnet is unreachable; one on an alias subnet of `lo` works.
    assert_eq!(
        set_default_route(Ipv4Addr::new(192, 0, 2, 1)),
        Err(DeviceError::AddRoute(ENETUNREACH))
    );
    let alias = Some((Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(255, 255, 255, 0)));
    interface_up("lo:1", alias).unwrap();
    // The /24 netmask took (the classful default for 10.x would be /8).
    assert_eq!(
        set_default_route(Ipv4Addr::new(10, 9, 1, 2)),
        Err(DeviceError::AddRoute(ENETUNREACH))
    );
    set_default_route(Ipv4Addr::new(10, 9, 0, 2)).unwrap();
    set_default_route(Ipv4Addr::new(10, 9, 0, 2)).unwrap(); // exists already: fine
    let routes = std::fs::read_to_string("/proc/net/route").unwrap();
    // Destination 0.0.0.0, gateway 10.9.0.2 (little-endian hex in /proc/net/route).
    let default = routes
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("00000000"))
        .unwrap_or_else(|| panic!("no default route in\n{routes}"));
    let gw = u32::from_str_radix(default.split_whitespace().nth(2).unwrap(), 16).unwrap();
    assert_eq!(Ipv4Addr::from(gw.to_le_bytes()), Ipv4Addr::new(10, 9, 0, 2));
}
