//! Package scripts under ostler (issue 12): Debian's own `invoke-rc.d`, as a package's
//! maintainer script runs it on upgrade, with ostler as `/usr/sbin/policy-rc.d`. The action
//! goes through the service manager — the supervised daemon restarted, started, stopped —
//! and `/etc/init.d/NAME` never runs behind the supervisor's back.
//!
//! The root is the Debian bookworm minbase image of tests/s6_overlay.rs (init-system-helpers'
//! invoke-rc.d is part of it), with ostler's definitions in /etc/ostler/sv, run by podman;
//! the init script writes a marker if it ever runs.

mod util;

use std::time::Duration;
use util::container::*;

const WAIT: Duration = Duration::from_secs(20);

/// A longrun `web`, its init script (which must never run) and ostler as policy-rc.d.
fn layer() -> Layer {
    let mut layer = Layer::over(Base::Debian);
    layer
        .file("/etc/ostler/sv/web/type", "longrun\n")
        .script("/etc/ostler/sv/web/run", "#!/bin/sh\necho web $$ started\nexec sleep infinity\n")
        .file("/etc/ostler/sv/default/type", "bundle\n")
        .file("/etc/ostler/sv/default/contents.d/web", "")
        .script("/etc/init.d/web", "#!/bin/sh\necho \"$@\" >> /tmp/init-script-ran\n")
        // The image's installer links it; a script gives the name here (the layer holds files).
        .script("/usr/sbin/policy-rc.d", "#!/bin/bash\nexec -a policy-rc.d /init \"$@\"\n");
    layer
}

/// web's pid, as its supervisor says (`s6-svstat -p`, ostler by that name in /command).
fn web_pid(container: &Container) -> String {
    container.exec(&["/command/s6-svstat", "-p", "/run/service/web"]).stdout.trim().to_string()
}

/// `service web status` (ostler by that name).
fn web_status(container: &Container) -> String {
    container.exec(&["bash", "-c", "exec -a service /init web status"]).stdout
}

#[test]
fn invoke_rc_d_restarts_starts_and_stops_through_the_supervisor() {
    let container = Container::start(layer(), &[], &["sleep", "infinity"]);
    container.wait_logs("web up", WAIT, |out, _| out.contains("web: web "));
    let first = web_pid(&container);
    assert!(first.parse::<u32>().is_ok_and(|p| p > 0), "web's pid: {first:?}");

    // An upgrade's postinst: `invoke-rc.d web restart` → a new web process, no init script.
    let restart = container.exec(&["invoke-rc.d", "web", "restart"]);
    assert_eq!(restart.code, 0, "invoke-rc.d restart: {restart}");
    let mut second = first.clone();
    for _ in 0..200 {
        second = web_pid(&container);
        if second != first && second.parse::<u32>().is_ok_and(|p| p > 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ne!(second, first, "invoke-rc.d restart did not restart web through its supervisor");

    // A prerm's stop, then a postinst's start.
    assert_eq!(container.exec(&["invoke-rc.d", "web", "stop"]).code, 0);
    let down = web_status(&container);
    assert!(down.starts_with("down"), "after invoke-rc.d stop: {down}");
    assert_eq!(container.exec(&["invoke-rc.d", "web", "start"]).code, 0);
    let up = web_status(&container);
    assert!(up.starts_with("up (pid "), "after invoke-rc.d start: {up}");

    // A package whose daemon is not an ostler service: nothing runs, and it is said.
    let other = container.exec(&["bash", "-c", "cp /etc/init.d/web /etc/init.d/other && invoke-rc.d other start"]);
    assert_eq!(other.code, 0, "{other}");
    assert!(other.stderr.contains("other is not a service of ostler's"), "{other}");

    let ran = container.exec(&["cat", "/tmp/init-script-ran"]);
    assert_ne!(ran.code, 0, "an init script ran behind the supervisor's back: {ran}");
}
