//! What a browser may send on the feed websocket: any bytes, read as server-side websocket
//! frames with the feed's own limits. Reading must never panic, and no message larger than the
//! feed accepts may come through (a client must not make the server buffer megabytes).
#![no_main]

use std::io::{Cursor, Read, Write};

use libfuzzer_sys::fuzz_target;
use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};

/// The client's side of a connection: our bytes to read, writes discarded.
struct Wire(Cursor<Vec<u8>>);

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = domain::feed::CLIENT_LIMITS;
    let config = WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer)
        .max_message_size(Some(limits.max_incoming))
        .max_frame_size(Some(limits.max_incoming));
    let mut ws = WebSocket::from_raw_socket(Wire(Cursor::new(data.to_vec())), Role::Server, Some(config));
    for _ in 0..64 {
        match ws.read() {
            Ok(message) => {
                assert!(message.len() <= limits.max_incoming, "a {}-byte message got through", message.len());
            }
            Err(_) => break,
        }
    }
});
