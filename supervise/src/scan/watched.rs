//! The scanner's in-process supervisors, each with its control FIFO in one epoll set for as
//! long as it lives.
//!
//! A control FIFO is opened when its supervisor starts and closed when it is dropped, and is
//! read rarely: polling every one of them at every wake-up made each wake-up cost the kernel
//! O(services) (a seventh of the scanner's time while restarting a thousand services). The
//! set is polled as one fd instead. Notification fds come and go with each start, and stay in
//! the plain poll.

use crate::supervisor::Supervisor;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;

/// Most control FIFOs taken from the set per wake-up; the rest stay readable for the next.
const EVENTS_PER_WAKE: usize = 64;

/// The set of control FIFOs.
pub struct ControlSet {
    epoll: Option<Rc<Epoll>>,
}

impl ControlSet {
    /// A new set. Without one (epoll unavailable), every supervisor is polled on its own.
    pub fn new() -> ControlSet {
        ControlSet { epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).ok().map(Rc::new) }
    }

    /// The fd to poll for "some control FIFO is readable".
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.epoll.as_ref().map(|epoll| epoll.0.as_fd())
    }

    /// The control FIFOs readable now, by the tag each was watched with. Never blocks.
    pub fn readable(&self) -> Vec<u64> {
        let Some(epoll) = &self.epoll else { return Vec::new() };
        let mut events = [EpollEvent::empty(); EVENTS_PER_WAKE];
        match epoll.wait(&mut events, EpollTimeout::ZERO) {
            Ok(n) => events[..n].iter().map(EpollEvent::data).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Puts `supervisor`'s control FIFO in the set under `tag`, for as long as the result
    /// lives.
    pub fn watch(&self, supervisor: Supervisor, tag: u64) -> Watched {
        let event = EpollEvent::new(EpollFlags::EPOLLIN, tag);
        // A full set (max_user_watches) only costs this one its place: it is polled alone.
        let epoll = self.epoll.as_ref().filter(|epoll| epoll.add(supervisor.control_fd(), event).is_ok()).cloned();
        Watched { supervisor: Box::new(supervisor), epoll }
    }
}

/// An in-process supervisor whose control FIFO is in the set, or polled on its own when
/// `in_set()` is false.
pub struct Watched {
    supervisor: Box<Supervisor>,
    epoll: Option<Rc<Epoll>>,
}

impl Watched {
    /// Whether the set watches its control FIFO.
    pub fn in_set(&self) -> bool {
        self.epoll.is_some()
    }
}

impl Drop for Watched {
    /// Out of the set before the FIFO closes: a copy of the fd left in a child that has not
    /// exec'd yet would otherwise keep the registration alive under a number soon reused.
    fn drop(&mut self) {
        if let Some(epoll) = &self.epoll {
            let _ = epoll.delete(self.supervisor.control_fd());
        }
    }
}

impl std::ops::Deref for Watched {
    type Target = Supervisor;
    fn deref(&self) -> &Supervisor {
        &self.supervisor
    }
}

impl std::ops::DerefMut for Watched {
    fn deref_mut(&mut self) -> &mut Supervisor {
        &mut self.supervisor
    }
}
