//! The client side of systemd's readiness protocol (sd_notify(3)): one datagram of
//! `KEY=VALUE` lines to the unix socket named by `$NOTIFY_SOCKET` — a path, or an abstract
//! socket when it starts with `@`. What systemd's `Type=notify` services send (`READY=1`,
//! `STOPPING=1`, `STATUS=…`), and what podman's `--sdnotify=container` waits for from a
//! container's init. No library: a datagram is all it takes.

use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The variable naming the socket.
pub const VARIABLE: &str = "NOTIFY_SOCKET";

/// Where readiness goes: the socket of `$NOTIFY_SOCKET`, taken from the environment once so
/// the processes we start do not inherit it (a service of ours is not the unit's main
/// process; systemd would log its messages as refused).
#[derive(Debug)]
pub struct Notifier {
    address: SocketAddr,
    /// How `$NOTIFY_SOCKET` read, for messages.
    name: String,
}

impl Notifier {
    /// The notifier of `$NOTIFY_SOCKET`, removed from our environment; none when it is unset
    /// or names no socket we can address (said once on stderr).
    pub fn take_from_env() -> Option<Notifier> {
        let value = std::env::var_os(VARIABLE)?;
        std::env::remove_var(VARIABLE);
        let name = value.to_string_lossy().into_owned();
        match address(&name) {
            Ok(address) => Some(Notifier { address, name }),
            Err(e) => {
                eprintln!(
                    "ostler: warning: NOTIFY_SOCKET={name:?} is not a socket address ({e}); nothing will be told ready"
                );
                None
            }
        }
    }

    /// The notifier of the socket `name` (a path, or `@abstract`).
    pub fn new(name: &str) -> std::io::Result<Notifier> {
        Ok(Notifier { address: address(name)?, name: name.to_string() })
    }

    /// Sends `state` (lines such as `READY=1\nSTATUS=up`); a failure is a warning, never an
    /// error: the services run whether or not the manager hears of it.
    pub fn send(&self, state: &str) {
        if let Err(e) = self.try_send(state) {
            eprintln!("ostler: warning: unable to notify {}: {e}", self.name);
        }
    }

    /// Sends `state`; the error is the caller's to weigh (`STOPPING=1` to a manager that only
    /// waited for readiness, as `ostler user start`, finds no one: nothing to say).
    pub fn try_send(&self, state: &str) -> std::io::Result<()> {
        UnixDatagram::unbound().and_then(|socket| socket.send_to_addr(state.as_bytes(), &self.address)).map(drop)
    }
}

/// The socket address of `$NOTIFY_SOCKET`'s value.
fn address(name: &str) -> std::io::Result<SocketAddr> {
    match name.strip_prefix('@') {
        Some(abstract_name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name.as_bytes())
        }
        None if name.starts_with('/') => SocketAddr::from_pathname(name),
        None => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "neither an absolute path nor @abstract")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_an_abstract_name_are_addressed() {
        let dir = std::env::temp_dir().join(format!("ostler-sd-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        Notifier::new(path.to_str().unwrap()).unwrap().send("READY=1\nSTATUS=up");
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1\nSTATUS=up");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("ostler-sd-notify-test-{}", std::process::id());
        let abstract_receiver =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        Notifier::new(&format!("@{name}")).unwrap().send("STOPPING=1");
        let n = abstract_receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_relative_name_is_refused() {
        assert!(Notifier::new("notify").is_err());
    }
}
