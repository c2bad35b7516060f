//! # hyper-dashboard: the swarm made visible
//!
//! A read-only web UI served by the node (`hyper node --dashboard ADDR`, `hyper dashboard`),
//! bound to 127.0.0.1 by default. The page is static (embedded in the binary: works
//! offline) and reads JSON from [`api`]; the live feed is a server-sent-event stream of the
//! node's [`hyper_swarm::feed`], so the page never polls. Everything the server shows is
//! computed from a per-domain [`views::DomainView`] rebuilt in the background at most once a
//! second when the board changed, with paging and downsampled series, so a page stays fast
//! with 100k results on a board.

pub mod api;
pub mod assets;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_swarm::node::NodeClient;
use hyper_swarm::peers::DiversityBoard;

/// Everything the server reads.
#[derive(Clone)]
pub struct Dashboard {
    pub client: NodeClient,
    pub domains: Vec<String>,
    pub diversity: DiversityBoard,
    pub views: Arc<views::Views>,
    /// `hyper <version> (<peer id>)`.
    pub generated_by: String,
}

impl Dashboard {
    pub fn new(client: NodeClient, domains: Vec<String>, diversity: DiversityBoard) -> Self {
        let generated_by = format!("hyper {} ({})", env!("CARGO_PKG_VERSION"), client.peer_id);
        Dashboard {
            client,
            domains,
            diversity,
            views: Arc::default(),
            generated_by,
        }
    }
}

/// Binds `addr` and serves the dashboard on the current tokio runtime until the node stops;
/// returns the address it listens on (port 0 picks one).
pub async fn serve(dashboard: Dashboard, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("the dashboard cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tokio::spawn(views::refresh(dashboard.clone()));
    let app = api::router(dashboard);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("the dashboard stopped: {e}");
        }
    });
    Ok(local)
}
