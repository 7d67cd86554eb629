//! Messages on the wire: one JSON message per WebSocket text message. WebSocket, rather
//! than a framing of our own, because it passes unchanged through the Kubernetes API
//! server's pod proxy, which is how a coordinator reaches agents running as a Job with
//! nothing but a kubeconfig. A message over [`MAX_FRAME`] ends the connection before it
//! is buffered whole.

use std::pin::Pin;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The largest message either side accepts: a scenario's files travel in one (`prepare`).
pub const MAX_FRAME: usize = 64 << 20;

/// The sending half of a connection.
pub type Tx = Pin<Box<dyn Sink<Message, Error = WsError> + Send>>;
/// The receiving half.
pub type Rx = Pin<Box<dyn Stream<Item = Result<Message, WsError>> + Send>>;

/// Both ends' WebSocket limits.
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME))
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the connection closed")]
    Closed,
    #[error("not a message of this protocol: {0}")]
    Malformed(String),
    #[error(transparent)]
    Ws(#[from] WsError),
}

/// Sends one message.
pub async fn send<T: Serialize>(tx: &mut Tx, msg: &T) -> Result<(), WsError> {
    let body = serde_json::to_string(msg).expect("plain data serialises");
    tx.send(Message::text(body)).await
}

/// Receives one message (WebSocket pings and pongs are the library's business).
pub async fn recv<T: DeserializeOwned>(rx: &mut Rx) -> Result<T, FrameError> {
    loop {
        match rx.next().await {
            None | Some(Ok(Message::Close(_))) => return Err(FrameError::Closed),
            Some(Err(
                WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Io(_)
                | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
            )) => return Err(FrameError::Closed),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(t.as_str())
                    .map_err(|e| FrameError::Malformed(e.to_string()))
            }
            Some(Ok(Message::Binary(b))) => {
                return serde_json::from_slice(&b).map_err(|e| FrameError::Malformed(e.to_string()))
            }
            Some(Ok(_)) => continue,
        }
    }
}

/// Splits a WebSocket into its boxed halves.
pub fn split<S>(ws: S) -> (Tx, Rx)
where
    S: Sink<Message, Error = WsError> + Stream<Item = Result<Message, WsError>> + Send + 'static,
{
    let (tx, rx) = ws.split();
    (Box::pin(tx), Box::pin(rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::ToAgent;

    #[tokio::test]
    async fn round_trip_and_junk() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (client, server) = tokio::join!(
            tokio_tungstenite::client_async("ws://agent/", a),
            tokio_tungstenite::accept_async(b)
        );
        let (mut tx, _crx) = split(client.unwrap().0);
        let (mut stx, mut rx) = split(server.unwrap());
        send(&mut tx, &ToAgent::Ping { id: 7 }).await.unwrap();
        let got: ToAgent = recv(&mut rx).await.unwrap();
        assert!(matches!(got, ToAgent::Ping { id: 7 }));
        tx.send(Message::text("{x}")).await.unwrap();
        let err = recv::<ToAgent>(&mut rx).await.unwrap_err();
        assert!(matches!(err, FrameError::Malformed(_)), "{err}");
        drop(tx);
        drop(_crx);
        let err = recv::<ToAgent>(&mut rx).await.unwrap_err();
        assert!(
            matches!(err, FrameError::Closed | FrameError::Ws(_)),
            "{err}"
        );
        let _ = stx.close().await;
    }
}
