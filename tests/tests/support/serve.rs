//! The serve-mode back end of one test: its own provisioned streams and keyspace, one processor
//! in this process, and the payments sandbox over HTTP; ingress processes (`boxoffice serve`, in
//! process) are started over it with [`Backend::api`].

use ingress::config::ApiConfig;
use payments::SandboxProvider;
use processors::topology::Topology;
use tokio::task::JoinHandle;

use super::api::Api;
use super::pipeline::{self, Processor, Services};

/// Everything behind the ingress for one test.
pub struct Backend {
    /// NATS and Cassandra settings.
    pub services: Services,
    /// The test's unique topology (provisioned).
    pub topology: Topology,
    /// The processor (stop it before replacing it).
    pub processor: Processor,
    /// The sandbox the payments server serves (shared state: read it to see what was charged).
    pub payments: SandboxProvider,
    /// Base URL of the payments server.
    pub payments_url: String,
    payments_task: JoinHandle<()>,
}

impl Backend {
    /// Provision a unique topology for `test`, start its processor (owner `<test>-p`) and an
    /// in-memory payments sandbox; `None` when the services are missing and skipping is asked.
    pub async fn start(test: &str) -> Option<Backend> {
        let services = pipeline::services(test)?;
        let topology = pipeline::topology(test);
        pipeline::provision_all(&services, &topology).await;
        let processor = Processor::start(&services, &topology, &format!("{test}-p"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let payments_url = format!("http://{}", listener.local_addr().unwrap());
        let payments = SandboxProvider::in_memory();
        let payments_task = {
            let provider = payments.clone();
            tokio::spawn(async move {
                payments::sandbox_server::serve(listener, provider, std::future::pending())
                    .await
                    .expect("payments sandbox");
            })
        };
        Some(Backend {
            services,
            topology,
            processor,
            payments,
            payments_url,
            payments_task,
        })
    }

    /// A `boxoffice serve` ingress over this back end with `topology` (usually a clone of
    /// [`Backend::topology`]) and adjusted settings.
    pub async fn api(&self, topology: Topology, tweak: impl FnOnce(&mut ApiConfig)) -> Api {
        Api::start_serve(
            &self.services.nats_url,
            &self.services.cql_nodes,
            topology,
            self.payments_url.clone(),
            tweak,
        )
        .await
    }

    /// Stop the processor and the payments server.
    pub async fn stop(self) {
        self.processor.stop().await;
        self.payments_task.abort();
    }
}

/// Stop `api`'s `boxoffice serve` (if it has one running).
pub async fn stop_api(api: &mut Api) {
    if let Some(server) = api.server.take() {
        server.stop().await.expect("serve stops");
    }
}
