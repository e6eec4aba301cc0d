//! What the API's handlers share. Its own file so that the resources and
//! the router above them can all name it without one importing the other.

use crate::data_dir::{Company, Group};
use crate::store::StoreHandle;

/// What the API's handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: StoreHandle,
    pub token: String,
    pub company: Company,
    pub group: Group,
    /// Turns true when the node stops, ending change streams so the server
    /// can finish its graceful shutdown.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// The mesh, when the node replicates with others.
    pub mesh: Option<crate::replication::Replication>,
    /// The election and ID-range task.
    pub primary: crate::primary::PrimaryHandle,
    /// This company's sales orders.
    pub orders: crate::orders::Orders,
}
