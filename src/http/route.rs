//! Paths to routes. A route names what a request is about and which methods it allows;
//! the names inside it are validated later, where the error can say what was wrong.

/// A known path of the native API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Health,
    /// `GET /ws`: the `nimbus.v2` WebSocket upgrade.
    Ws,
    /// `POST /api/admin/deploy`.
    Deploy,
    /// `/api/sessions`.
    Sessions,
    Session(&'a str),
    SessionClose(&'a str),
    Tenants,
    Tenant(&'a str),
    Documents(&'a str),
    Table(&'a str, &'a str),
    Document(&'a str, &'a str, &'a str),
    Query(&'a str),
    QueryPaginated(&'a str),
    Schemas(&'a str),
    Schema(&'a str, &'a str),
    Schedule(&'a str),
    Job(&'a str, &'a str),
    JobHistory(&'a str, &'a str),
    Crons(&'a str),
    Cron(&'a str, &'a str),
    Services(&'a str),
    Service(&'a str, &'a str),
    /// `/services/{name}/start|stop|restart`.
    ServiceAction(&'a str, &'a str, &'a str),
    Sandboxes(&'a str),
    Sandbox(&'a str, &'a str),
    SandboxStop(&'a str, &'a str),
    /// `/api/tenants/{t}/keys`.
    Keys(&'a str),
    Key(&'a str, &'a str),
    /// `GET /metrics`: the Prometheus scrape.
    Metrics,
    /// `GET /api/tenants/{t}/usage`.
    Usage(&'a str),
    /// `POST /api/tenants/{t}/import`.
    Import(&'a str),
    /// `GET /api/tenants/{t}/export`: streamed JSON Lines.
    Export(&'a str),
    /// `POST /api/admin/backup`: the streamed archive of the whole server.
    Backup,
    /// `GET /api/tenants/{t}/changes`: a page of the change feed.
    Changes(&'a str),
    /// `GET /api/tenants/{t}/events`: the change feed as Server-Sent Events.
    Events(&'a str),
    /// `/api/tenants/{t}/topics/{topic}`.
    Topic(&'a str, &'a str),
    /// `POST /api/tenants/{t}/topics/consume`.
    TopicConsume(&'a str),
    /// `POST /api/tenants/{t}/topics/ack`.
    TopicAck(&'a str),
    /// `GET /api/tenants/{t}/live?query=`: a live query as Server-Sent Events.
    Live(&'a str),
}

/// Every route's pattern, in [`Route::index`] order: the `route` label of the metrics.
/// Placeholders are `:name` (not `{name}`: braces inside a label value trip some parsers).
pub const ROUTE_PATTERNS: [&str; 39] = [
    "/health",
    "/ws",
    "/api/admin/deploy",
    "/api/sessions",
    "/api/sessions/:id",
    "/api/sessions/:id/close",
    "/api/tenants",
    "/api/tenants/:tenant",
    "/api/tenants/:tenant/documents",
    "/api/tenants/:tenant/documents/:table",
    "/api/tenants/:tenant/documents/:table/:id",
    "/api/tenants/:tenant/query",
    "/api/tenants/:tenant/query/paginated",
    "/api/tenants/:tenant/schema",
    "/api/tenants/:tenant/schema/:table",
    "/api/tenants/:tenant/schedule",
    "/api/tenants/:tenant/schedule/:job_id",
    "/api/tenants/:tenant/schedule/history/:job_id",
    "/api/tenants/:tenant/crons",
    "/api/tenants/:tenant/crons/:name",
    "/api/tenants/:tenant/services",
    "/api/tenants/:tenant/services/:name",
    "/api/tenants/:tenant/services/:name/:action",
    "/api/tenants/:tenant/sandboxes",
    "/api/tenants/:tenant/sandboxes/:id",
    "/api/tenants/:tenant/sandboxes/:id/stop",
    "/api/tenants/:tenant/keys",
    "/api/tenants/:tenant/keys/:id",
    "/metrics",
    "/api/tenants/:tenant/usage",
    "/api/tenants/:tenant/import",
    "/api/tenants/:tenant/export",
    "/api/admin/backup",
    "/api/tenants/:tenant/changes",
    "/api/tenants/:tenant/events",
    "/api/tenants/:tenant/topics/:topic",
    "/api/tenants/:tenant/topics/consume",
    "/api/tenants/:tenant/topics/ack",
    "/api/tenants/:tenant/live",
];

impl<'a> Route<'a> {
    /// This route's place in [`ROUTE_PATTERNS`].
    pub fn index(&self) -> usize {
        match self {
            Route::Health => 0,
            Route::Ws => 1,
            Route::Deploy => 2,
            Route::Sessions => 3,
            Route::Session(_) => 4,
            Route::SessionClose(_) => 5,
            Route::Tenants => 6,
            Route::Tenant(_) => 7,
            Route::Documents(_) => 8,
            Route::Table(..) => 9,
            Route::Document(..) => 10,
            Route::Query(_) => 11,
            Route::QueryPaginated(_) => 12,
            Route::Schemas(_) => 13,
            Route::Schema(..) => 14,
            Route::Schedule(_) => 15,
            Route::Job(..) => 16,
            Route::JobHistory(..) => 17,
            Route::Crons(_) => 18,
            Route::Cron(..) => 19,
            Route::Services(_) => 20,
            Route::Service(..) => 21,
            Route::ServiceAction(..) => 22,
            Route::Sandboxes(_) => 23,
            Route::Sandbox(..) => 24,
            Route::SandboxStop(..) => 25,
            Route::Keys(_) => 26,
            Route::Key(..) => 27,
            Route::Metrics => 28,
            Route::Usage(_) => 29,
            Route::Import(_) => 30,
            Route::Export(_) => 31,
            Route::Backup => 32,
            Route::Changes(_) => 33,
            Route::Events(_) => 34,
            Route::Topic(..) => 35,
            Route::TopicConsume(_) => 36,
            Route::TopicAck(_) => 37,
            Route::Live(_) => 38,
        }
    }

    /// The tenant named in the path (`/api/tenants/{t}/…`), if the route has one.
    pub fn tenant(&self) -> Option<&'a str> {
        match *self {
            Route::Health
            | Route::Ws
            | Route::Deploy
            | Route::Sessions
            | Route::Session(_)
            | Route::SessionClose(_)
            | Route::Metrics
            | Route::Backup
            | Route::Tenants => None,
            Route::Tenant(t)
            | Route::Documents(t)
            | Route::Table(t, _)
            | Route::Document(t, ..)
            | Route::Query(t)
            | Route::QueryPaginated(t)
            | Route::Schemas(t)
            | Route::Schema(t, _)
            | Route::Schedule(t)
            | Route::Job(t, _)
            | Route::JobHistory(t, _)
            | Route::Crons(t)
            | Route::Cron(t, _)
            | Route::Services(t)
            | Route::Service(t, _)
            | Route::ServiceAction(t, ..)
            | Route::Sandboxes(t)
            | Route::Sandbox(t, _)
            | Route::SandboxStop(t, _)
            | Route::Keys(t)
            | Route::Key(t, _)
            | Route::Usage(t)
            | Route::Import(t)
            | Route::Export(t)
            | Route::Changes(t)
            | Route::Events(t)
            | Route::Topic(t, _)
            | Route::TopicConsume(t)
            | Route::TopicAck(t)
            | Route::Live(t) => Some(t),
        }
    }

    /// Methods this route answers, as the `Allow` header lists them.
    pub fn allow(&self) -> &'static str {
        match self {
            Route::Health => "GET, HEAD",
            Route::Ws => "GET",
            Route::Deploy => "POST",
            Route::Sessions => "GET, HEAD, POST",
            Route::Session(_) => "GET, HEAD",
            Route::SessionClose(_) => "POST",
            Route::Tenants => "GET, HEAD, POST",
            Route::Tenant(_) => "DELETE",
            Route::Documents(_) | Route::Query(_) | Route::QueryPaginated(_) => "POST",
            Route::Table(..) | Route::Schemas(_) => "GET, HEAD",
            Route::Document(..) => "GET, HEAD, PATCH, DELETE",
            Route::Schema(..) => "GET, HEAD, PUT, DELETE",
            Route::Schedule(_) | Route::Crons(_) => "GET, HEAD, POST",
            Route::Job(..) | Route::Cron(..) => "DELETE",
            Route::JobHistory(..) => "GET, HEAD",
            Route::Services(_) => "GET, HEAD, POST",
            Route::Service(..) => "GET, HEAD, PUT, DELETE",
            Route::ServiceAction(..) => "POST",
            Route::Sandboxes(_) => "GET, HEAD, POST",
            Route::Sandbox(..) => "GET, HEAD",
            Route::SandboxStop(..) => "POST",
            Route::Keys(_) => "GET, HEAD, POST",
            Route::Key(..) => "DELETE",
            Route::Metrics | Route::Usage(_) => "GET, HEAD",
            Route::Import(_) | Route::Backup => "POST",
            Route::Export(_) | Route::Changes(_) | Route::Events(_) | Route::Live(_) => "GET",
            Route::Topic(..) => "GET, HEAD, PUT, DELETE",
            Route::TopicConsume(_) | Route::TopicAck(_) => "POST",
        }
    }
}

/// The value of query parameter `name` in a request target, percent-decoded.
pub fn query_param(target: &str, name: &str) -> Option<String> {
    let query = target.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path part of a request target (before `?`).
pub fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(p, _)| p)
}

/// The route of a path, or `None` when no route has that shape.
pub fn route(path: &str) -> Option<Route<'_>> {
    if path == "/health" {
        return Some(Route::Health);
    }
    if path == "/ws" {
        return Some(Route::Ws);
    }
    if path == "/metrics" {
        return Some(Route::Metrics);
    }
    if path == "/api/admin/backup" {
        return Some(Route::Backup);
    }
    if path == "/api/admin/deploy" {
        return Some(Route::Deploy);
    }
    if let Some(rest) = path.strip_prefix("/api/sessions") {
        let mut parts = rest.split('/').skip(1);
        return match (rest.is_empty(), parts.next(), parts.next(), parts.next()) {
            (true, ..) => Some(Route::Sessions),
            (false, Some(id), None, _) if !id.is_empty() => Some(Route::Session(id)),
            (false, Some(id), Some("close"), None) if !id.is_empty() => {
                Some(Route::SessionClose(id))
            }
            _ => None,
        };
    }
    let rest = path.strip_prefix("/api/tenants")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Tenants);
    }
    let rest = rest.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let tenant = parts.next()?;
    let segs: [Option<&str>; 4] = [parts.next(), parts.next(), parts.next(), parts.next()];
    Some(match segs {
        [None, ..] => Route::Tenant(tenant),
        [Some("documents"), None, ..] => Route::Documents(tenant),
        [Some("documents"), Some(table), None, _] => Route::Table(tenant, table),
        [Some("documents"), Some(table), Some(id), None] => Route::Document(tenant, table, id),
        [Some("query"), None, ..] => Route::Query(tenant),
        [Some("query"), Some("paginated"), None, _] => Route::QueryPaginated(tenant),
        [Some("schema"), None, ..] => Route::Schemas(tenant),
        [Some("schema"), Some(table), None, _] => Route::Schema(tenant, table),
        [Some("schedule"), None, ..] => Route::Schedule(tenant),
        [Some("schedule"), Some("history"), Some(id), None] => Route::JobHistory(tenant, id),
        [Some("schedule"), Some(id), None, _] => Route::Job(tenant, id),
        [Some("crons"), None, ..] => Route::Crons(tenant),
        [Some("crons"), Some(name), None, _] => Route::Cron(tenant, name),
        [Some("services"), None, ..] => Route::Services(tenant),
        [Some("services"), Some(name), None, _] => Route::Service(tenant, name),
        [Some("services"), Some(name), Some(a @ ("start" | "stop" | "restart")), None] => {
            Route::ServiceAction(tenant, name, a)
        }
        [Some("sandboxes"), None, ..] => Route::Sandboxes(tenant),
        [Some("sandboxes"), Some(id), None, _] => Route::Sandbox(tenant, id),
        [Some("sandboxes"), Some(id), Some("stop"), None] => Route::SandboxStop(tenant, id),
        [Some("keys"), None, ..] => Route::Keys(tenant),
        [Some("keys"), Some(id), None, _] => Route::Key(tenant, id),
        [Some("usage"), None, ..] => Route::Usage(tenant),
        [Some("import"), None, ..] => Route::Import(tenant),
        [Some("export"), None, ..] => Route::Export(tenant),
        [Some("changes"), None, ..] => Route::Changes(tenant),
        [Some("events"), None, ..] => Route::Events(tenant),
        [Some("live"), None, ..] => Route::Live(tenant),
        [Some("topics"), Some("consume"), None, _] => Route::TopicConsume(tenant),
        [Some("topics"), Some("ack"), None, _] => Route::TopicAck(tenant),
        [Some("topics"), Some(topic), None, _] => Route::Topic(tenant, topic),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_routes_back_to_its_index() {
        for (i, pattern) in ROUTE_PATTERNS.iter().enumerate() {
            let path = pattern
                .replace(":job_id", "01arz3ndektsv4rrffq69g5fav")
                .replace(":id", "01arz3ndektsv4rrffq69g5fav")
                .replace(":action", "start")
                .replace(":topic", "orders")
                .replace(':', "");
            assert_eq!(route(&path).map(|r| r.index()), Some(i), "{path}");
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(route("/health"), Some(Route::Health));
        assert_eq!(route("/api/tenants"), Some(Route::Tenants));
        assert_eq!(route("/api/tenants/t"), Some(Route::Tenant("t")));
        assert_eq!(
            route("/api/tenants/t/documents/m/x"),
            Some(Route::Document("t", "m", "x"))
        );
        assert_eq!(
            route("/api/tenants/t/query/paginated"),
            Some(Route::QueryPaginated("t"))
        );
        assert_eq!(
            route("/api/tenants/t/schema/m"),
            Some(Route::Schema("t", "m"))
        );
        assert_eq!(route("/api/tenants/t/documents/m/x/y"), None);
        assert_eq!(route("/api/tenantsX"), None);
        assert_eq!(route("/nope"), None);
        assert_eq!(path_of("/a?b=c"), "/a");
        assert_eq!(route("/ws"), Some(Route::Ws));
        assert_eq!(route("/api/sessions"), Some(Route::Sessions));
        assert_eq!(route("/api/sessions/x"), Some(Route::Session("x")));
        assert_eq!(
            route("/api/sessions/x/close"),
            Some(Route::SessionClose("x"))
        );
        assert_eq!(route("/api/sessionsx"), None);
        assert_eq!(
            route("/api/tenants/t/schedule/history/x"),
            Some(Route::JobHistory("t", "x"))
        );
        assert_eq!(
            route("/api/tenants/t/schedule/x"),
            Some(Route::Job("t", "x"))
        );
        assert_eq!(route("/api/tenants/t/crons/c"), Some(Route::Cron("t", "c")));
        assert_eq!(
            query_param("/ws?tenant_id=de%6Do&token=abc", "tenant_id").as_deref(),
            Some("demo")
        );
        assert_eq!(
            query_param("/ws?tenant_id=demo&token=abc", "token").as_deref(),
            Some("abc")
        );
        assert_eq!(query_param("/ws?x", "token"), None);
        assert_eq!(query_param("/ws?a=%", "a").as_deref(), Some("%"));
    }
}
