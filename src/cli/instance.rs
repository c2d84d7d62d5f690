//! `ostler hosted` (the system's services under systemd) and `ostler user` (one user's own,
//! without root): the scanner and the service manager as an instance under another init.

use clap::{Args, Subcommand};
use ostler_init::container;
use ostler_init::instance::Instance;
use std::time::{Duration, Instant};

/// Run the system's services under another init (systemd): the unit `ostler.service`.
///
/// The scanner on /run/service, then the `default` bundle of /etc/ostler/sv (OSTLER_DEFS,
/// OSTLER_SCANDIR, OSTLER_RUNDIR, OSTLER_LOGDIR move them) brought up in dependency order, in
/// the foreground. Tells systemd READY=1 on $NOTIFY_SOCKET once `default` is up
/// (`Type=notify`), STOPPING=1 when the stop begins. SIGTERM or SIGINT: the services go down in
/// reverse dependency order, then the scanner, then every process left, KILLed at the grace.
/// What an earlier run left in the runtime area is removed first; a second instance on the
/// same paths is refused.
#[derive(Args, Debug)]
pub struct HostedArgs {
    /// Milliseconds the whole stop may take before what is left is KILLed [env:
    /// OSTLER_GRACE_MS; default 5000]. Keep it below the unit's TimeoutStopSec.
    #[arg(long, value_name = "MS")]
    pub grace: Option<u64>,
}

/// Run your own services, without root: a scanner and service manager for one user.
///
/// Definitions in $XDG_CONFIG_HOME/ostler/sv (~/.config/ostler/sv; a `default` bundle naming
/// what starts), the runtime area in $XDG_RUNTIME_DIR/ostler (/tmp/ostler-user-UID, private,
/// when XDG_RUNTIME_DIR is unset), services' logs in $XDG_STATE_HOME/ostler/log
/// (~/.local/state/ostler/log). While it runs, `service`, `ostler rc`, `ostler ready` and
/// `ostler logs` run by the same user find it by themselves.
#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    pub action: UserAction,
}

/// What to do with the user's instance.
#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Run in the foreground (a systemd user unit with Type=notify, a terminal): READY=1 on
    /// $NOTIFY_SOCKET once `default` is up; SIGTERM or SIGINT stops everything in order.
    Run {
        /// Milliseconds the whole stop may take before what is left is KILLed [env:
        /// OSTLER_GRACE_MS; default 5000].
        #[arg(long, value_name = "MS")]
        grace: Option<u64>,
        /// Write what the instance and its services print to a rotated log,
        /// $XDG_STATE_HOME/ostler/log/ostler (`ostler logs ostler`), not to standard output.
        #[arg(long)]
        log: bool,
    },
    /// Start in the background (a login, cron's @reboot) and return once `default` is up;
    /// output to $XDG_STATE_HOME/ostler/log/ostler. Already running: says so, exits 0.
    Start {
        /// Milliseconds the whole stop may take before what is left is KILLed.
        #[arg(long, value_name = "MS")]
        grace: Option<u64>,
        /// Seconds to wait for `default` to be up (exit 1 after them; the instance goes on).
        #[arg(long, value_name = "SECONDS", default_value_t = 90)]
        timeout: u64,
    },
    /// Stop the running instance (services in reverse dependency order) and wait for its end.
    Stop {
        /// Seconds to wait for its end (exit 1 after them).
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        timeout: u64,
    },
    /// Whether the instance runs (exit 0) or not (exit 3), and its paths.
    Status,
}

pub fn hosted(args: HostedArgs) -> u8 {
    if nix::unistd::getpid().as_raw() == 1 {
        eprintln!(
            "ostler hosted: fatal: this is PID 1; ostler hosted runs under another init (as PID 1, use ostler init)"
        );
        return 100;
    }
    run_instance(Instance::system(), args.grace, "ostler hosted")
}

pub fn user(args: UserArgs) -> u8 {
    match args.action {
        UserAction::Run { grace, log } => {
            let mut instance = Instance::user();
            if log {
                instance.catch_all = Some(instance.logs.join("ostler"));
            }
            run_instance(instance, grace, "ostler user")
        }
        UserAction::Start { grace, timeout } => start(grace, Duration::from_secs(timeout)),
        UserAction::Stop { timeout } => stop(Duration::from_secs(timeout)),
        UserAction::Status => status(),
    }
}

/// The container init's machinery on the instance's paths.
fn run_instance(instance: Instance, grace: Option<u64>, program: &str) -> u8 {
    let grace = match grace.map(Ok).or_else(|| {
        std::env::var("OSTLER_GRACE_MS").ok().filter(|v| !v.is_empty()).map(|v| v.trim().parse::<u64>().map_err(|_| v))
    }) {
        None => 5000,
        Some(Ok(ms)) => ms,
        Some(Err(text)) => {
            eprintln!("{program}: fatal: OSTLER_GRACE_MS={text:?} is not a number of milliseconds; fix it");
            return 100;
        }
    };
    if let Some(ms) = ostler_stage2::boottime_ms() {
        std::env::set_var(ostler_stage2::STARTED_VARIABLE, ms.to_string());
    }
    let options = container::Options {
        command: Vec::new(),
        grace: Duration::from_millis(grace),
        stop_signal: nix::sys::signal::Signal::SIGTERM,
        process_group: false,
        wait_for: Vec::new(),
        wait_max: None,
        stop_on_failure: false,
        instance: Some(instance),
    };
    container::run(&options, container::Hooks { stage2: super::boot::container_stage2, ready: super::rc::ready_now })
}

/// `ostler user start`: `ostler user run --log` in a session of its own, told to notify a
/// socket of ours; its early messages (before its log is open) relayed; back once it is ready.
fn start(grace: Option<u64>, timeout: Duration) -> u8 {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let instance = Instance::user();
    if let Some(pid) = instance.running() {
        println!("ostler user: already running (pid {pid})");
        return 0;
    }
    let name = format!("ostler-user-start-{}", std::process::id());
    let socket = {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .and_then(|address| std::os::unix::net::UnixDatagram::bind_addr(&address))
    };
    let socket = match socket {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("ostler user: fatal: unable to make a socket to hear readiness on: {e}");
            return 111;
        }
    };
    let Ok(ostler) = std::env::current_exe() else {
        eprintln!("ostler user: fatal: unable to find my own binary");
        return 111;
    };
    let mut command = std::process::Command::new(&ostler);
    command.arg0("ostler").args(["user", "run", "--log"]).env("NOTIFY_SOCKET", format!("@{name}"));
    if let Some(ms) = grace {
        command.args(["--grace", &ms.to_string()]);
    }
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // SAFETY: setsid is async-signal-safe; the instance outlives our terminal and session.
    unsafe {
        command.pre_exec(|| {
            let _ = nix::unistd::setsid();
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("ostler user: fatal: unable to start {}: {e}", ostler.display());
            return 111;
        }
    };
    // Its early output (until its log is open): relayed, from two threads, until end of file.
    let relays: Vec<_> = [
        child.stdout.take().map(|o| Box::new(o) as Box<dyn Read + Send>),
        child.stderr.take().map(|e| Box::new(e) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut stream| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stream.read_to_end(&mut text);
            eprint!("{}", String::from_utf8_lossy(&text));
        })
    })
    .collect();
    let end = Instant::now() + timeout;
    let mut buffer = [0u8; 4096];
    let pid = child.id();
    // The instance's status line once ready, or its end before that.
    let outcome = loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // Its output may still come to us: not waited for.
            eprintln!("ostler user: not ready after {} s; still starting (pid {pid}): see `ostler user status`, `ostler logs ostler`", timeout.as_secs());
            return 1;
        }
        // The wait for the datagram also looks at the child every 200 ms.
        let _ = socket.set_read_timeout(Some(left.min(Duration::from_millis(200))));
        if let Ok(n) = socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]);
            if message.lines().any(|line| line == "READY=1") {
                break Ok(message.lines().find_map(|l| l.strip_prefix("STATUS=")).unwrap_or("running").to_string());
            }
        }
        if let Ok(Some(exit)) = child.try_wait() {
            break Err(exit);
        }
    };
    // The relays end when the instance's log takes its output, or when it ends.
    relays.into_iter().for_each(|relay| drop(relay.join()));
    match outcome {
        Ok(status) => {
            println!("ostler user: started (pid {pid}): {status}");
            0
        }
        Err(exit) => {
            eprintln!("ostler user: the instance ended before it was ready ({exit})");
            1
        }
    }
}

/// `ostler user stop`: TERM to the instance, then wait until its lock is let go.
fn stop(timeout: Duration) -> u8 {
    let instance = Instance::user();
    let Some(pid) = instance.running() else {
        println!("ostler user: not running");
        return 0;
    };
    if let Err(e) = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM) {
        eprintln!("ostler user: unable to signal the instance (pid {pid}): {e}");
        return 111;
    }
    let end = Instant::now() + timeout;
    while instance.locked() {
        if Instant::now() >= end {
            eprintln!("ostler user: still running (pid {pid}) after {} s", timeout.as_secs());
            return 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("ostler user: stopped");
    0
}

/// `ostler user status`: 0 running, 3 not (as LSB's status actions).
fn status() -> u8 {
    let instance = Instance::user();
    let defs = instance.defs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ");
    match instance.running() {
        Some(pid) => println!("running (pid {pid})"),
        None => println!("not running"),
    }
    println!("  definitions:    {defs}");
    println!("  scan directory: {}", instance.scan.display());
    println!("  private area:   {}", instance.private.display());
    println!("  logs:           {}", instance.logs.display());
    if instance.running().is_some() {
        0
    } else {
        3
    }
}
