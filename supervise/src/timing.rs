//! Every delay the scanner and the supervisor use, with its unit and its reason.

use std::time::{Duration, Instant};

/// A service that dies before it has been ready for this long is restarted only after
/// [`RESTART_PACE`]; one that was ready this long restarts at once (s6's pacing).
pub const READY_GRACE: Duration = Duration::from_secs(1);

/// Wait before restarting a service that died without having been ready for [`READY_GRACE`],
/// so a crash loop costs one spawn a second, not a core.
pub const RESTART_PACE: Duration = Duration::from_secs(1);

/// Wait before trying again when `run` could not be executed (missing, not executable): the
/// admin has to fix something, so retrying faster only fills the log. `u` retries at once.
pub const SPAWN_RETRY: Duration = Duration::from_secs(10);

/// Wait before the scanner restarts a supervisor process that died, as s6-svscan does.
pub const SUPERVISOR_RESPAWN: Duration = Duration::from_secs(1);

/// Control bytes read from a FIFO in one turn; the rest waits for the next turn, so one noisy
/// client cannot starve the others.
pub const CONTROL_READ: usize = 64;

/// Wait before writing `supervise/status` or `death_tally` again after a failure (a full
/// /run): what clients read is stale meanwhile, so it is not left for the next change.
pub const FILE_RETRY: Duration = Duration::from_secs(1);

/// The earlier of two optional deadlines. Written out rather than built from iterators, which
/// were a fifth of a wake-up when the scanner still asked all of a thousand supervisors for
/// their deadlines; a supervisor's own next deadline is still asked after each of its events.
#[inline]
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
