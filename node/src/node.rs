//! Running a company node in the foreground: open the data directory, start
//! the store writer and the local API, advertise the API address in
//! `node.json` so other `elo` commands go through it, and stop cleanly when
//! the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;

use crate::api::{self, ApiState};
use crate::data_dir::{DataDir, DataDirError, NodeInfo};
use crate::primary::{PrimaryError, PrimaryHandle, PrimarySettings};
use crate::replication::{MeshConfig, Replication, ReplicationError};
use crate::store::StoreHandle;

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "the API listens on loopback only; {0} is not a loopback address (add --api-insecure-public to allow it)"
    )]
    NotLoopback(SocketAddr),
    #[error(
        "the figures (--metrics) are served without the token, so on loopback only; {0} is not a loopback address (scrape GET /metrics on the API with the token instead)"
    )]
    MetricsNotLoopback(SocketAddr),
    #[error(transparent)]
    Replication(#[from] ReplicationError),
    #[error(transparent)]
    Primary(#[from] PrimaryError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the API server failed: {0}")]
    Serve(std::io::Error),
}

/// How to run a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub data: DataDir,
    pub api: SocketAddr,
    /// The mesh; `None` runs the node alone (API only).
    pub mesh: Option<MeshConfig>,
    /// Allow the API on an address other than loopback. The token is then
    /// the only thing between the network and the company's data, and it
    /// travels in clear: off unless asked for by name.
    pub api_insecure_public: bool,
    /// Settings of the primary and ID ranges.
    pub primary: PrimarySettings,
    /// A loopback address serving `GET /metrics` without the token, for a
    /// scraper on this machine.
    pub metrics: Option<SocketAddr>,
}

/// Runs the node until `shutdown` resolves. `on_ready` hears the bound API
/// address once the node is serving.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), NodeError> {
    if !config.api.ip().is_loopback() && !config.api_insecure_public {
        return Err(NodeError::NotLoopback(config.api));
    }
    if let Some(addr) = config.metrics.filter(|a| !a.ip().is_loopback()) {
        return Err(NodeError::MetricsNotLoopback(addr));
    }
    // No compaction here: it costs about 0.5 s per 100,000 records at every
    // start (a restart is when a branch needs to catch up fast); `elo join`
    // compacts at its end, and a command that wrote through the store
    // itself (`elo import` with the node stopped) when that gives disk
    // space back.
    let (store, company, group) = config.data.open()?;
    let token = config.data.api_token()?;
    let keypair = config.data.identity()?;
    let handle = StoreHandle::spawn(store);
    let (stop_tx, stopping) = tokio::sync::watch::channel(false);
    let members = crate::group::roster(&handle).await?;
    let (primary, primary_outgoing) = PrimaryHandle::start(
        handle.clone(),
        company.cnpj.clone(),
        &group.primary,
        members.iter().map(|m| m.cnpj.clone()).collect(),
        PrimarySettings {
            // With no mesh, no member can answer: nothing to wait for.
            offline: config.primary.offline || config.mesh.is_none(),
            ..config.primary.clone()
        },
        stopping.clone(),
    )
    .await?;
    tokio::spawn(crate::records::number_waiting_records(
        handle.clone(),
        primary.clone(),
        stopping.clone(),
    ));
    let orders = crate::orders::Orders::of(&handle, &company, primary.clone());
    let mesh = match config.mesh.clone() {
        Some(m) => Some(
            Replication::start(
                handle.clone(),
                company.clone(),
                group.clone(),
                keypair,
                m,
                crate::replication::Tasks {
                    primary: primary.clone(),
                    primary_outgoing,
                    orders: orders.clone(),
                },
                stopping.clone(),
            )
            .await?,
        ),
        None => None,
    };
    let (listener, addr) = listen(&config).await?;
    tracing::info!(company = %company.cnpj, api = %addr, "node running");
    on_ready(addr);
    let closing = handle.clone();
    let state = ApiState {
        store: handle,
        token,
        company,
        group,
        stopping,
        mesh,
        primary,
        orders,
    };
    if let Some(addr) = config.metrics {
        serve_metrics(addr, state.clone()).await?;
    }
    let app = api::router(state);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    config.data.remove_node_info();
    // Let the writer finish what is queued and close the file cleanly.
    if let Err(e) = closing.close().await {
        tracing::warn!(
            "closing the store: {e}; every acknowledged write is on disk, the next start checks the file (if it does not open, see `elo restore` and `elo salvage`)"
        );
    }
    tracing::info!("node stopped");
    served.map_err(NodeError::Serve)
}

/// Binds the API's address and advertises it in `node.json`, so other `elo`
/// commands go through this node.
async fn listen(config: &NodeConfig) -> Result<(tokio::net::TcpListener, SocketAddr), NodeError> {
    let listen_error = |source| NodeError::Listen {
        addr: config.api,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.api)
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    config.data.write_node_info(&NodeInfo {
        api: addr.to_string(),
        pid: std::process::id(),
    })?;
    Ok((listener, addr))
}

/// Serves `GET /metrics` alone on `addr` (loopback, checked at the start)
/// until the node stops.
async fn serve_metrics(addr: SocketAddr, state: ApiState) -> Result<(), NodeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Listen { addr, source })?;
    let mut stopping = state.stopping.clone();
    let app = api::metrics_router(state);
    tracing::info!(metrics = %addr, "figures served at /metrics");
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!(
                "the figures at --metrics stopped being served: {e}; the node goes on, restart it to serve them again"
            );
        }
    });
    Ok(())
}
