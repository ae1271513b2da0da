//! A server for a test that is about the client: it accepts connections on a host and closes
//! each one as soon as the client has closed its own, so that the client, closing first, is the
//! end that holds TIME_WAIT.
//!
//! ```no_run
//! # async fn demo(net: &netcase::Topology) -> netcase::Result<()> {
//! use netcase::Family;
//! let server = net.host("server")?.serve(net.socket_addr("server", Family::V4, 7100)?).await?;
//! let conn = net.host("client")?.connect(server.addr()).await?.expect("connect()");
//! let closed = conn.close_first().await?; // the client's FIN, then the server's
//! # Ok(()) }
//! ```
//!
//! The server runs on the host's own runtime, inside its namespace: nothing of it outlives the
//! [`Server`] (its listener closes when the value is dropped), nor the host.

use std::{io, net::SocketAddr};

use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use crate::{
    Host,
    error::{Error, Result},
};

/// A listener that [`Host::serve`] or [`Host::serve_one`] started. Dropping it closes the
/// listener; connections already accepted go on until their client closes.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    host: String,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Host {
    /// Serves `addr` (SO_REUSEADDR): accepts every connection, reads and discards what the
    /// client sends, and closes its end once the client has closed its own (end of file, or an
    /// error such as a reset).
    pub async fn serve(&self, addr: SocketAddr) -> Result<Server> {
        self.start_server(addr, false).await
    }

    /// Serves one connection on `addr`, as [`Host::serve`] does, and closes the listener as soon
    /// as it has accepted it: once the client has closed, the host has no socket on that port at
    /// all. [`Server::finished`] waits for that.
    pub async fn serve_one(&self, addr: SocketAddr) -> Result<Server> {
        self.start_server(addr, true).await
    }

    async fn start_server(&self, addr: SocketAddr, once: bool) -> Result<Server> {
        let task = self
            .spawn(async move {
                let listener = TcpListener::bind(addr).await?;
                io::Result::Ok(tokio::spawn(accept(listener, once)))
            })
            .await?
            .map_err(|e| Error::io(format!("listening on {addr} on host {}", self.name()), e))?;
        Ok(Server {
            addr,
            host: self.name().to_owned(),
            task: Some(task),
        })
    }
}

impl Server {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// For a server of [`Host::serve_one`]: waits until its one connection has been accepted and
    /// closed (the listener closed before it), and reports an error that came in between. A server
    /// of [`Host::serve`] never finishes: drop it instead.
    pub async fn finished(mut self) -> Result<()> {
        let what = format!("serving {} on host {}", self.addr, self.host);
        match self.task.take() {
            None => Ok(()),
            Some(task) => match task.await {
                Ok(served) => served.map_err(|e| Error::io(what, e)),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => Err(Error::HostGone(self.host.clone())),
            },
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Accepts connections from `listener`: every one, each served by a task of its own; or, `once`,
/// the first, closing the listener before serving it.
async fn accept(listener: TcpListener, once: bool) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        if once {
            let listener = listener.into_std()?;
            crate::fork::close_now(move || drop(listener));
            return close_after_client(stream).await;
        }
        // Detached: it ends with its connection, or with the host's runtime.
        drop(tokio::spawn(close_after_client(stream)));
    }
}

/// Reads until the client has closed (or reset) the connection, then closes it; a read error
/// other than a reset is returned after the close.
async fn close_after_client(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    let ended = loop {
        match stream.read(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // No fork may overlap the close: a child between fork and exec would keep the socket open,
    // and the FIN would wait for its exec.
    let stream = stream.into_std()?;
    crate::fork::close_now(move || drop(stream));
    ended
}
