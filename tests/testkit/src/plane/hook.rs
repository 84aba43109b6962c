//! The hook moto calls while it answers `PutEvents` (and a replay): once per
//! rule an event matched (`/events/matched`) and once per target to deliver
//! to (`/events/deliver`), as `emulator/plane_patches.py` documents. The
//! hook only queues the call and answers at once: EventBridge accepts an
//! event before it delivers it. The deliveries run afterwards ([`run`]),
//! each counted as work in flight from the moment it was queued, so a test
//! that settles the plane after `PutEvents` sees them done.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::mpsc;

use super::Ctx;
use super::clock::{Busy, Work};
use crate::http::{Response, Server, handler};

/// A call moto made, with the work it stands for.
struct Call {
    path: String,
    body: Value,
    busy: Option<Busy>,
}

/// Calls queued until [`run`] takes them.
#[derive(Clone, Default)]
pub struct Queue {
    inner: Arc<Mutex<QueueInner>>,
}

#[derive(Default)]
struct QueueInner {
    work: Work,
    sender: Option<mpsc::UnboundedSender<Call>>,
    waiting: Vec<Call>,
}

impl Queue {
    /// A queue whose calls count as `work` until handled.
    pub fn new(work: Work) -> Queue {
        let queue = Queue::default();
        if let Ok(mut inner) = queue.inner.lock() {
            inner.work = work;
        }
        queue
    }

    fn push(&self, path: String, body: Value) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let call = Call {
            path,
            body,
            busy: Some(inner.work.start()),
        };
        match &inner.sender {
            Some(sender) => {
                let _ = sender.send(call);
            }
            None => inner.waiting.push(call),
        }
    }
}

/// Serves the hook on a loopback port the system picks.
///
/// # Errors
/// No port could be bound.
pub async fn serve(queue: Queue) -> std::io::Result<Server> {
    crate::http::serve(handler(move |request| {
        let queue = queue.clone();
        async move {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            queue.push(request.path, body);
            Some(Response::json(200, &serde_json::json!({"queued": true})))
        }
    }))
    .await
}

/// Takes the queued calls (those that came before too) and handles each
/// in a task of its own.
pub fn run(queue: Queue, ctx: Ctx) {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    if let Ok(mut inner) = queue.inner.lock() {
        for call in inner.waiting.drain(..) {
            let _ = sender.send(call);
        }
        inner.sender = Some(sender);
    }
    tokio::spawn(async move {
        while let Some(mut call) = receiver.recv().await {
            let ctx = ctx.clone();
            let busy = call.busy.take();
            tokio::spawn(async move {
                handle(&ctx, &call.path, &call.body).await;
                drop(busy);
            });
        }
    });
}

async fn handle(ctx: &Ctx, path: &str, body: &Value) {
    match path {
        "/events/matched" => super::bus::matched(ctx, body).await,
        "/events/deliver" => super::bus::deliver(ctx, body).await,
        other => eprintln!("local plane: moto called an unknown hook {other}"),
    }
}
