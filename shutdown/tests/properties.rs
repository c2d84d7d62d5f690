//! Property tests of the shutdown daemon's FIFO requests and its final request file (issue
//! 15): any bytes decode or are refused without a panic, every encoded request reads back,
//! and good lines in a stream with garbage between them are each read.

use ostler_shutdown::request::{Action, Command, Request, MAX_GRACE};
use proptest::prelude::*;
use std::time::Duration;

fn action() -> impl Strategy<Value = Action> {
    prop::sample::select(vec![Action::Poweroff, Action::Reboot, Action::Halt])
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        Just(Command::Cancel),
        (action(), any::<u64>(), 0..=MAX_GRACE.as_millis() as u64).prop_map(|(action, delay, grace)| {
            Command::Shutdown(Request {
                action,
                delay: Duration::from_millis(delay),
                grace: Duration::from_millis(grace),
            })
        }),
    ]
}

/// A line that is not a request: arbitrary bytes (no newline), huge numbers, NULs, long.
fn garbage_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        "[prhcx] -?[0-9]{0,40}( -?[0-9]{0,40}){0,2}".prop_map(String::into_bytes),
        Just(b"p\x001\x002".to_vec()),
        (1usize..6000).prop_map(|n| vec![b'9'; n]),
    ]
    .prop_map(|line| line.into_iter().filter(|&b| b != b'\n').collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any bytes: a request or nothing; a grace never above the limit.
    #[test]
    fn decode_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        if let Some(Command::Shutdown(request)) = Command::decode(&bytes) {
            prop_assert!(request.grace <= MAX_GRACE);
        }
    }

    /// The FIFO as the daemon splits it: good requests, garbage lines between them; each good
    /// one is read, in order, and no garbage line comes out as something the encoder would
    /// not write.
    #[test]
    fn stream_keeps_every_good_request(
        lines in proptest::collection::vec(prop_oneof![command().prop_map(Ok), garbage_line().prop_map(Err)], 0..20),
    ) {
        let stream: Vec<u8> = lines.iter().flat_map(|l| match l {
            Ok(command) => command.encode().into_bytes(),
            Err(garbage) => [&garbage[..], b"\n"].concat(),
        }).collect();
        let decoded: Vec<Command> = stream.split(|&b| b == b'\n').filter_map(Command::decode).collect();
        prop_assert!(decoded.len() <= lines.len());
        let mut rest = decoded.iter();
        for command in lines.iter().filter_map(|l| l.as_ref().ok()) {
            prop_assert!(rest.any(|d| d == command), "{command:?} lost in {:?}", String::from_utf8_lossy(&stream));
        }
    }

    /// The final request file: exactly the three words, blanks around them allowed.
    #[test]
    fn final_request_word(text in any::<String>()) {
        match Action::from_word(&text) {
            Some(action) => prop_assert_eq!(action.word(), text.trim()),
            None => prop_assert!(!["poweroff", "reboot", "halt"].contains(&text.trim())),
        }
    }
}
