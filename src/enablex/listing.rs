//! `GET /rooms` read as a stream: rooms are parsed one at a time as the body arrives and
//! handed over in batches, so memory does not grow with the number of rooms upstream. EnableX
//! documents no paging for the listing [U]; an answer that says `pages` (or `next`) is followed
//! page by page, and one that says `total` is checked against what arrived.

use super::{EnableXClient, EnableXError, Room, parse_response};
use reqwest::{Method, header};
use secrecy::ExposeSecret;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Rooms handed over at a time, and chunks of body buffered between network and parser.
const ROOMS_BUFFERED: usize = 512;
const CHUNKS_BUFFERED: usize = 8;

/// What a finished listing said about itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listed {
    /// Rooms read, over every page.
    pub rooms: u64,
    /// Entries that were not rooms (no `room_id`): skipped.
    pub skipped: u64,
    pub pages: u32,
}

/// A listing being read. Take rooms with [`RoomStream::next_batch`] until it is empty, then
/// [`RoomStream::finish`] says whether the listing was whole: only a whole listing is evidence
/// of what is not upstream.
pub struct RoomStream {
    rooms: mpsc::Receiver<Room>,
    task: JoinHandle<Result<Listed, EnableXError>>,
}

impl RoomStream {
    /// Up to `max` more rooms; empty when the listing has ended (wholly or not).
    pub async fn next_batch(&mut self, max: usize) -> Vec<Room> {
        let mut batch = Vec::with_capacity(max.min(ROOMS_BUFFERED));
        while batch.len() < max {
            match self.rooms.recv().await {
                Some(room) => batch.push(room),
                None => break,
            }
        }
        batch
    }

    /// How the listing ended. Call after [`RoomStream::next_batch`] came back empty; called
    /// earlier, it stops the listing and reports it incomplete.
    pub async fn finish(mut self) -> Result<Listed, EnableXError> {
        self.rooms.close();
        while self.rooms.recv().await.is_some() {}
        match self.task.await {
            Ok(result) => result,
            Err(err) => Err(EnableXError::Interrupted(format!("listing task: {err}"))),
        }
    }
}

impl EnableXClient {
    /// `GET /rooms`, streamed, page by page where EnableX pages. Gives up at `deadline`.
    pub fn list_rooms_stream(&self, deadline: Instant) -> RoomStream {
        let (tx, rooms) = mpsc::channel(ROOMS_BUFFERED);
        let client = self.clone();
        let task = tokio::spawn(async move { client.read_listing(tx, deadline).await });
        RoomStream { rooms, task }
    }

    async fn read_listing(
        &self,
        tx: mpsc::Sender<Room>,
        deadline: Instant,
    ) -> Result<Listed, EnableXError> {
        let mut listed = Listed::default();
        let mut path = "/rooms".to_owned();
        loop {
            let permit = self.breaker.admit()?;
            let started = Instant::now();
            let page = self.read_page(&path, &tx, deadline).await;
            permit.record(page.as_ref().map(drop));
            metrics::histogram!(crate::metrics::ENABLEX_DURATION, "operation" => "list")
                .record(started.elapsed().as_secs_f64());
            let outcome = if page.is_ok() { "ok" } else { "failed" };
            metrics::counter!(crate::metrics::ENABLEX_CALLS, "operation" => "list", "outcome" => outcome)
                .increment(1);
            let page = page?;
            listed.pages += 1;
            listed.rooms += page.rooms;
            listed.skipped += page.skipped;
            path = match (page.next, page.page, page.pages) {
                (Some(next), _, _) => next_path(&self.base_url, &next)?,
                (None, Some(at), Some(pages)) if at < pages => format!("/rooms?page={}", at + 1),
                _ => {
                    // The last page: a listing that says how many rooms it has must hold them.
                    let held = listed.rooms + listed.skipped;
                    if let Some(total) = page.total.filter(|total| *total != held) {
                        return Err(EnableXError::Malformed(format!(
                            "the listing says {total} rooms but holds {held}"
                        )));
                    }
                    return Ok(listed);
                }
            };
            if listed.pages > 100_000 {
                return Err(EnableXError::Malformed("the listing does not end".into()));
            }
        }
    }

    /// One page: the body goes chunk by chunk to a parser on a blocking thread, which sends
    /// each room on as soon as it is read.
    async fn read_page(
        &self,
        path: &str,
        tx: &mpsc::Sender<Room>,
        deadline: Instant,
    ) -> Result<Page, EnableXError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(EnableXError::Timeout);
        }
        let mut response = self
            .http
            .request(Method::GET, format!("{}{path}", self.base_url))
            .basic_auth(&self.app_id, Some(self.app_key.expose_secret()))
            .header(header::ACCEPT, "application/json")
            .timeout(left)
            .send()
            .await
            .map_err(EnableXError::from_reqwest)?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response.bytes().await.map_err(EnableXError::from_reqwest)?;
            return Err(parse_response(status, retry_after, &body).err().unwrap_or(
                EnableXError::Refused {
                    status,
                    code: None,
                    message: format!("HTTP {status}"),
                },
            ));
        }
        let (chunks_tx, chunks) = mpsc::channel::<bytes::Bytes>(CHUNKS_BUFFERED);
        let rooms = tx.clone();
        let parser =
            tokio::task::spawn_blocking(move || parse_page(ChunkReader::new(chunks), &rooms));
        let fed = async {
            while let Some(chunk) = response.chunk().await.map_err(EnableXError::from_reqwest)? {
                if chunks_tx.send(chunk).await.is_err() {
                    break; // the parser stopped: it says why
                }
            }
            Ok::<(), EnableXError>(())
        }
        .await;
        drop(chunks_tx);
        let parsed = parser
            .await
            .map_err(|e| EnableXError::Interrupted(format!("listing parser: {e}")))?;
        fed?;
        let page = parsed.map_err(|e| EnableXError::Malformed(format!("listing: {e}")))?;
        if let Some(code) = page.result.as_ref().filter(|c| c.as_str() != "0") {
            return Err(EnableXError::Refused {
                status,
                code: Some(code.clone()),
                message: page
                    .error
                    .clone()
                    .unwrap_or_else(|| "listing refused".into()),
            });
        }
        Ok(page)
    }
}

/// A `next` link made into a path under the client's base URL.
fn next_path(base_url: &str, next: &str) -> Result<String, EnableXError> {
    let path = next.strip_prefix(base_url).unwrap_or(next);
    if path.starts_with("/rooms") {
        Ok(path.to_owned())
    } else {
        Err(EnableXError::Malformed(format!(
            "the listing's next page is elsewhere: {}",
            next.chars().take(80).collect::<String>()
        )))
    }
}

/// What one page said besides its rooms.
#[derive(Debug, Default)]
struct Page {
    rooms: u64,
    skipped: u64,
    result: Option<String>,
    error: Option<String>,
    total: Option<u64>,
    page: Option<u64>,
    pages: Option<u64>,
    next: Option<String>,
}

/// Blocking `Read` over body chunks arriving on a channel.
struct ChunkReader {
    chunks: mpsc::Receiver<bytes::Bytes>,
    current: bytes::Bytes,
}

impl ChunkReader {
    fn new(chunks: mpsc::Receiver<bytes::Bytes>) -> Self {
        Self {
            chunks,
            current: bytes::Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

fn parse_page(reader: ChunkReader, rooms: &mpsc::Sender<Room>) -> Result<Page, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let page = PageSeed { rooms }.deserialize(&mut de)?;
    de.end()?;
    Ok(page)
}

struct PageSeed<'a> {
    rooms: &'a mpsc::Sender<Room>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Page;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Page, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Page;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("EnableX's room listing object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page, A::Error> {
        let mut page = Page::default();
        let text = |v: Value| match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let number = |v: Value| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "rooms" => {
                    let (read, skipped) = map.next_value_seed(RoomsSeed { rooms: self.rooms })?;
                    page.rooms += read;
                    page.skipped += skipped;
                }
                "result" => page.result = text(map.next_value()?),
                "error" | "desc" | "message" => {
                    page.error = text(map.next_value()?).or(page.error);
                }
                "total" | "count" => page.total = number(map.next_value()?),
                "page" => page.page = number(map.next_value()?),
                "pages" | "total_pages" => page.pages = number(map.next_value()?),
                "next" => page.next = text(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }
}

struct RoomsSeed<'a> {
    rooms: &'a mpsc::Sender<Room>,
}

impl<'de> DeserializeSeed<'de> for RoomsSeed<'_> {
    type Value = (u64, u64);

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(u64, u64), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RoomsSeed<'_> {
    type Value = (u64, u64);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rooms")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(u64, u64), A::Error> {
        let (mut read, mut skipped) = (0, 0);
        while let Some(entry) = seq.next_element::<Value>()? {
            match serde_json::from_value::<Room>(entry) {
                Ok(room) => {
                    read += 1;
                    if self.rooms.blocking_send(room).is_err() {
                        return Err(de::Error::custom("the listing was abandoned"));
                    }
                }
                Err(_) => skipped += 1,
            }
        }
        Ok((read, skipped))
    }
}
