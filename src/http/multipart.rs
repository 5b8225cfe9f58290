//! Streaming multipart uploads: find the part named `file` and hand its bytes on as they
//! arrive. After the file part ends, the rest of the body is read (still inside the stream,
//! so before anything is committed) to refuse a second file part or an oversized field.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use bytes::Bytes;
use futures::{Future, Stream, StreamExt};
use multer::{Field, Multipart};

use crate::blob::ByteStream;
use crate::service::Error;

/// Bytes of non-file fields tolerated in one upload body.
const MAX_OTHER_FIELDS: usize = 1024 * 1024;

/// The `file` part, ready to stream.
pub struct FileUpload {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub stream: ByteStream,
}

fn malformed(e: multer::Error) -> Error {
    Error::Invalid(format!("Malformed multipart body: {e}"))
}

/// Most of a refused upload's remaining body read (and discarded) so the client, still
/// sending, gets to read the JSON error instead of a connection reset.
const DRAIN_LIMIT: u64 = 256 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(60);

type DataStream = axum::body::BodyDataStream;

/// The request body, shared between the multipart parser and a later drain. It fails with
/// `TimedOut` when no bytes arrive for `idle`, so a stalled client cannot hold an upload slot
/// (and a temp file) forever.
#[derive(Clone)]
pub struct SharedBody(Arc<Mutex<Inner>>);

struct Inner {
    stream: DataStream,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    stalled: bool,
}

impl SharedBody {
    pub fn new(body: Body, idle: Duration) -> Self {
        SharedBody(Arc::new(Mutex::new(Inner {
            stream: body.into_data_stream(),
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            stalled: false,
        })))
    }

    /// True once the idle timeout has cut the body off.
    pub fn stalled(&self) -> bool {
        self.0.lock().expect("body lock").stalled
    }

    /// Reads and discards what is left of the body in the background, within limits.
    pub fn drain(self) {
        tokio::spawn(async move {
            let mut body = self;
            let mut seen = 0u64;
            let reading = async {
                while let Some(Ok(chunk)) = body.next().await {
                    seen += chunk.len() as u64;
                    if seen > DRAIN_LIMIT {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, reading).await;
        });
    }
}

impl Stream for SharedBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut inner = self.0.lock().expect("body lock");
        let inner = &mut *inner;
        match inner.stream.poll_next_unpin(cx) {
            Poll::Ready(item) => {
                let next = tokio::time::Instant::now() + inner.idle;
                inner.timer.as_mut().reset(next);
                Poll::Ready(item)
            }
            Poll::Pending => match inner.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    inner.stalled = true;
                    Poll::Ready(Some(Err(axum::Error::new(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the upload stalled: no bytes arrived in time",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// Reads the body up to the start of its `file` part.
pub async fn file_part(headers: &HeaderMap, body: SharedBody) -> Result<FileUpload, Error> {
    let boundary = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or(Error::FileRequired)?;
    let mut multipart = Multipart::new(body, boundary);
    let mut other = 0usize;
    loop {
        let Some(mut field) = multipart.next_field().await.map_err(malformed)? else {
            return Err(Error::FileRequired);
        };
        if field.name() == Some("file") {
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(|m| m.to_string());
            let stream = file_stream(multipart, field);
            return Ok(FileUpload {
                filename,
                content_type,
                stream,
            });
        }
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            other += chunk.len();
            if other > MAX_OTHER_FIELDS {
                return Err(Error::Invalid(
                    "Multipart fields other than file are too large".into(),
                ));
            }
        }
    }
}

struct State {
    multipart: Multipart<'static>,
    field: Option<Field<'static>>,
}

fn io_err(e: multer::Error) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed multipart body: {e}"),
    )
}

fn file_stream(multipart: Multipart<'static>, field: Field<'static>) -> ByteStream {
    let state = State {
        multipart,
        field: Some(field),
    };
    futures::stream::try_unfold(state, |mut st| async move {
        if let Some(field) = st.field.as_mut() {
            if let Some(bytes) = field.chunk().await.map_err(io_err)? {
                return Ok(Some((bytes, st)));
            }
            st.field = None;
        }
        let mut other = 0usize;
        while let Some(mut next) = st.multipart.next_field().await.map_err(io_err)? {
            if next.name() == Some("file") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "unexpected field: only one file part is allowed",
                ));
            }
            while let Some(chunk) = next.chunk().await.map_err(io_err)? {
                other += chunk.len();
                if other > MAX_OTHER_FIELDS {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "multipart fields other than file are too large",
                    ));
                }
            }
        }
        Ok(None)
    })
    .boxed()
}
