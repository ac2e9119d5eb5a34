//! Channels between cores: one bounded inbox per shard and a wake-up.
//!
//! The mesh carries messages of any type and knows nothing about shards or stores. Each
//! inbox is a lock-free bounded queue; a full inbox refuses the message at once (the caller
//! answers `503 service.unavailable`) instead of waiting without bound.

use atomic_waker::AtomicWaker;
use crossbeam_queue::ArrayQueue;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

struct Inbox<M> {
    queue: ArrayQueue<M>,
    waker: AtomicWaker,
}

/// Every core's inbox; shared by all cores (`Arc<Mesh<M>>`).
pub struct Mesh<M> {
    inboxes: Vec<Inbox<M>>,
}

impl<M> Mesh<M> {
    /// A mesh of `cores` inboxes holding up to `capacity` messages each.
    pub fn new(cores: usize, capacity: usize) -> Mesh<M> {
        let inboxes = (0..cores)
            .map(|_| Inbox {
                queue: ArrayQueue::new(capacity.max(1)),
                waker: AtomicWaker::new(),
            })
            .collect();
        Mesh { inboxes }
    }

    /// How many cores the mesh joins.
    pub fn cores(&self) -> usize {
        self.inboxes.len()
    }

    /// Puts `msg` in core `to`'s inbox and wakes it; gives the message back when the inbox
    /// is full or `to` is out of range.
    pub fn send(&self, to: usize, msg: M) -> Result<(), M> {
        let Some(inbox) = self.inboxes.get(to) else {
            return Err(msg);
        };
        inbox.queue.push(msg)?;
        inbox.waker.wake();
        Ok(())
    }

    /// Waits for the next message in core `me`'s inbox. Only core `me` may call this.
    pub fn recv(&self, me: usize) -> Recv<'_, M> {
        Recv { mesh: self, me }
    }
}

/// The future of [`Mesh::recv`].
pub struct Recv<'a, M> {
    mesh: &'a Mesh<M>,
    me: usize,
}

impl<M> Future for Recv<'_, M> {
    type Output = Option<M>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<M>> {
        let Some(inbox) = self.mesh.inboxes.get(self.me) else {
            return Poll::Ready(None);
        };
        if let Some(m) = inbox.queue.pop() {
            return Poll::Ready(Some(m));
        }
        inbox.waker.register(cx.waker());
        // A message pushed between the first pop and the registration must not be missed.
        match inbox.queue.pop() {
            Some(m) => Poll::Ready(Some(m)),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn delivers_across_threads_and_refuses_when_full() {
        let mesh = Arc::new(Mesh::<u32>::new(2, 2));
        assert!(mesh.send(1, 1).is_ok());
        assert!(mesh.send(1, 2).is_ok());
        assert_eq!(mesh.send(1, 3), Err(3), "full inbox refuses");
        assert_eq!(mesh.send(5, 3), Err(3), "no such core");
        let m = mesh.clone();
        let got = std::thread::spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .build()
                .expect("runtime");
            rt.block_on(async move { (m.recv(1).await, m.recv(1).await) })
        })
        .join()
        .expect("thread");
        assert_eq!(got, (Some(1), Some(2)));
    }
}
