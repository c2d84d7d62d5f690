//! Every supervisor's next deadline in one heap, so that a wake-up finds the earliest without
//! asking each of a thousand supervisors for its own (a walk that was a third of what a wake-up
//! cost the scanner).
//!
//! The heap is told each new deadline and never told when one is dropped or moved: the owner
//! keeps, for each key, the deadline it last pushed, and an item that no longer matches it is
//! stale and thrown away when it comes to the top.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Stale items tolerated beyond the live ones before the heap is rebuilt from those.
const SLACK: usize = 256;

/// Deadlines by key, earliest first.
pub struct Timers<K: Ord + Copy> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord + Copy> Timers<K> {
    pub fn new() -> Timers<K> {
        Timers { heap: BinaryHeap::new() }
    }

    /// `key`'s new deadline.
    pub fn push(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest deadline still current: `current(key)` is the deadline last pushed for it.
    pub fn earliest(&mut self, current: impl Fn(K) -> Option<Instant>) -> Option<Instant> {
        while let Some(&Reverse((at, key))) = self.heap.peek() {
            if current(key) == Some(at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes out the current deadlines due by `now`, each key once.
    pub fn due(&mut self, now: Instant, current: impl Fn(K) -> Option<Instant>) -> Vec<K> {
        let mut due: Vec<K> = Vec::new();
        while let Some(&Reverse((at, key))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            if current(key) == Some(at) && !due.contains(&key) {
                due.push(key);
            }
        }
        due
    }

    /// Rebuilds the heap from the current deadlines when stale items outnumber them by far
    /// (deadlines set and dropped again and again, far ahead).
    pub fn compact(&mut self, live: usize, current: impl Iterator<Item = (Instant, K)>) {
        if self.heap.len() > 2 * live + SLACK {
            self.heap = current.map(Reverse).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    #[test]
    fn stale_deadlines_are_skipped_and_due_ones_come_out_once() {
        let now = Instant::now();
        let ms = |n| now + Duration::from_millis(n);
        let mut timers = Timers::new();
        let mut current: HashMap<u32, Instant> = HashMap::new();
        for (key, at) in [(1, ms(10)), (2, ms(20)), (3, ms(30))] {
            timers.push(at, key);
            current.insert(key, at);
        }
        // 1 moves later, 2 is dropped; 3 is pushed twice with the same deadline.
        timers.push(ms(40), 1);
        current.insert(1, ms(40));
        current.remove(&2);
        timers.push(ms(30), 3);
        let lookup = |key| current.get(&key).copied();
        assert_eq!(timers.earliest(lookup), Some(ms(30)));
        assert_eq!(timers.due(ms(35), lookup), [3]);
        assert_eq!(timers.earliest(lookup), Some(ms(40)));
        assert_eq!(timers.due(ms(39), lookup), Vec::<u32>::new());
        assert_eq!(timers.due(ms(40), lookup), [1]);
        assert_eq!(timers.earliest(lookup), None);
    }

    #[test]
    fn compact_keeps_only_the_current_deadlines() {
        let now = Instant::now();
        let mut timers = Timers::new();
        for n in 0..1000u64 {
            timers.push(now + Duration::from_secs(n), 7u32);
        }
        let last = now + Duration::from_secs(999);
        timers.compact(1, std::iter::once((last, 7)));
        assert_eq!(timers.heap.len(), 1);
        assert_eq!(timers.earliest(|_| Some(last)), Some(last));
    }
}
